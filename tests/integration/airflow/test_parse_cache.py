"""The DAG cache changes nothing but speed: cached and freshly built DAGs serialise identically.

Aspects: equivalence through Airflow's own serializer for a pipeline using many stage types and
options (wait, bake, deploy, canary, webhook, manual_judgment; when, on_failure, rollback, window,
pipeline and stage notifications, schedule and registry triggers); a stored entry is really what a
warm parse uses; an edited file, or a changed package fingerprint, is rebuilt; a corrupt entry is
ignored and rewritten; with Airflow's DagBag the import errors of broken files are the same with
the cache off, cold and warm, and broken files never enter the cache.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization

from airflow_delivery.pipeline.cache import DagCache, environment_fingerprint, open_cache, reset_default_cache
from airflow_delivery.pipeline.dags import build_pipeline_dags
from airflow_delivery.pipeline.factory import build_dag
from airflow_delivery.pipeline.loader import load_pipeline_file
from tests.support import REPO_ROOT

SHOP = """\
name: shop
description: deploys the shop, end to end
owners: [platform-team]
tags: [cache-test]
parameters:
  - {name: environment, options: [staging, production], default: staging}
artifacts:
  - {name: api, repository: registry.example.com/team/api, tag: 'v\\d+'}
triggers:
  - {type: schedule, cron: "0 2 * * *", timezone: Europe/Paris}
  - {type: registry, repository: team/api, tag: 'v\\d+'}
notifications:
  - {type: slack, channel: "#deploys", when: [starting, complete, failed]}
stages:
  - id: bake
    type: bake
    source: manifests/app
    values: {name: api, replicas: 2}
    overrides: {image.tag: "{{ params.environment }}"}
  - id: deploy
    type: deploy
    depends_on: [bake]
    from_stage: bake
    strategy: redblack
    artifacts: [api]
    timeout: 10m
    window: {days: [mon, tue, wed, thu, fri], hours: [{start: "09:00", end: "17:00"}]}
  - id: canary
    type: canary
    depends_on: [deploy]
    config: golden-signals
    scopes: {control: baseline, experiment: canary, location: prod, step: 10}
    lifetime: 6m
    interval: 2m
    thresholds: {pass: 80, marginal: 60}
    on_failure: rollback
    rollback: [undo]
  - id: notify
    type: webhook
    depends_on: [canary]
    url: "http://127.0.0.1:9/hook"
    method: POST
    when: "params.environment == 'production'"
    on_failure: continue
    notifications: [{channel: "#stages", when: [starting, complete]}]
  - id: approve
    type: manual_judgment
    depends_on: [notify]
    instructions: "promote {{ params.environment }}?"
    inputs:
      - {value: promote, stages: [soak]}
      - {value: abort, stop: true}
    assigned_users: [alice]
    timeout: 72h
  - {id: soak, type: wait, duration: 30s, depends_on: [approve]}
  - {id: undo, type: wait, duration: 1s}
"""
SMALL = "name: small\nstages:\n  - {id: a, type: wait, duration: 5s}\n"
BROKEN = "name: broken\nstages:\n  - id: a\n    type: wait\n    duraton: 5s\n"
NOT_YAML = "name: [oops\n"


def serialised(dag: Any) -> dict[str, Any]:
    """Airflow's serialised form, without where the DAG was loaded from (DagBag sets that on load)."""
    data = DagSerialization.to_dict(dag)
    for key in ("fileloc", "relative_fileloc"):
        data["dag"].pop(key, None)
    return data


def load(folder: Path, cache: DagCache | None) -> tuple[dict[str, Any], list[str]]:
    namespace: dict[str, Any] = {}
    errors = build_pipeline_dags(folder, namespace, cache=cache)
    return {dag.dag_id: dag for dag in namespace.values()}, [str(e) for e in errors]


@pytest.fixture
def pipelines(tmp_path: Path) -> Path:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "shop.yaml").write_text(SHOP)
    (folder / "small.yaml").write_text(SMALL)
    return folder


@pytest.fixture
def cache(tmp_path: Path) -> DagCache:
    opened = open_cache(tmp_path / "home" / "cache" / "delivery-pipelines")
    assert opened is not None
    return opened


def entries(cache: DagCache) -> set[str]:
    return {p.name for p in cache.folder.glob("*.dag.pickle")}


def test_cached_dags_serialise_exactly_like_fresh_builds(pipelines: Path, cache: DagCache) -> None:
    cold, errors = load(pipelines, cache)
    assert errors == [] and set(cold) == {"shop", "small"}
    assert len(entries(cache)) == 2
    warm, errors = load(pipelines, cache)
    assert errors == []
    for name in ("shop", "small"):
        fresh = build_dag(load_pipeline_file(pipelines / f"{name}.yaml"))
        assert warm[name] is not cold[name]
        assert serialised(warm[name]) == serialised(fresh) == serialised(cold[name])
    shop = warm["shop"]
    assert set(shop.task_ids) == {
        "bake",
        "deploy",
        "deploy__window",
        "canary",
        "notify",
        "approve",
        "soak",
        "undo",
    }
    assert shop.get_task("notify").on_execute_callback  # stage notifications survived the round trip
    assert shop.get_task("deploy").upstream_task_ids == {"deploy__window"}


def test_a_warm_parse_uses_the_stored_entry(pipelines: Path, cache: DagCache) -> None:
    # Store a recognisably different DAG under small.yaml's key: a warm parse must return it unbuilt.
    key = cache.key((pipelines / "small.yaml").read_bytes())
    marked = build_dag(load_pipeline_file(pipelines / "small.yaml"))
    marked.description = "from the cache"
    assert cache.store(key, marked)
    dags, _ = load(pipelines, cache)
    assert dags["small"].description == "from the cache"


def test_an_edited_file_is_rebuilt(pipelines: Path, cache: DagCache) -> None:
    load(pipelines, cache)
    before = entries(cache)
    (pipelines / "small.yaml").write_text(SMALL.replace("5s", "7s"))
    dags, _ = load(pipelines, cache)
    assert dags["small"].get_task("a").duration.total_seconds() == 7
    assert len(entries(cache) - before) == 1  # the edited file got a new entry; shop's was reused


def test_a_changed_package_fingerprint_invalidates_every_entry(
    pipelines: Path, cache: DagCache, tmp_path: Path
) -> None:
    package = tmp_path / "package"
    package.mkdir()
    (package / "module.py").write_text("X = 1\n")
    before = DagCache(cache.folder, environment_fingerprint(package))
    load(pipelines, before)
    (package / "module.py").write_text("X = 22\n")  # an upgrade or an edit of the provider's code
    after = DagCache(cache.folder, environment_fingerprint(package))
    content = (pipelines / "small.yaml").read_bytes()
    assert before.key(content) != after.key(content)
    assert after.load(after.key(content)) is None
    dags, _ = load(pipelines, after)
    assert set(dags) == {"shop", "small"}
    assert len(entries(cache)) == 4  # rebuilt and stored under the new keys


def test_a_corrupt_entry_is_ignored_and_rewritten(pipelines: Path, cache: DagCache) -> None:
    load(pipelines, cache)
    key = cache.key((pipelines / "shop.yaml").read_bytes())
    entry = cache.path_of(key)
    entry.write_bytes(entry.read_bytes()[:200])  # truncated, as by a full disk
    dags, errors = load(pipelines, cache)
    assert errors == [] and set(dags) == {"shop", "small"}
    assert serialised(dags["shop"]) == serialised(build_dag(load_pipeline_file(pipelines / "shop.yaml")))
    assert cache.load(key) is not None  # rewritten whole


# -- through Airflow's DagBag, with the process-wide cache in $AIRFLOW_HOME --------------------


@pytest.fixture
def dags_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    shutil.copytree(REPO_ROOT / "dags", folder)
    (folder / "pipelines" / "shop.yaml").write_text(SHOP)
    (folder / "pipelines" / "broken.yaml").write_text(BROKEN)
    (folder / "pipelines" / "not_yaml.yaml").write_text(NOT_YAML)
    return folder


def bag(folder: Path) -> DagBag:
    reset_default_cache()  # as in the dag-processor: every parse is a fresh process
    return DagBag(str(folder), bundle_path=folder)


def test_dagbag_import_errors_are_the_same_with_the_cache_off_cold_and_warm(
    dags_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__DELIVERY__PIPELINE_CACHE", "False")
    off = bag(dags_copy)
    monkeypatch.delenv("AIRFLOW__DELIVERY__PIPELINE_CACHE")
    cold, warm = bag(dags_copy), bag(dags_copy)
    try:
        assert set(off.import_errors) == {"pipelines/broken.yaml", "pipelines/not_yaml.yaml"}
        assert "stages[0].duraton: unknown option" in off.import_errors["pipelines/broken.yaml"]
        assert cold.import_errors == off.import_errors == warm.import_errors
        assert sorted(cold.dag_ids) == sorted(off.dag_ids) == sorted(warm.dag_ids)
        for dag_id in off.dag_ids:
            assert DagSerialization.to_dict(warm.dags[dag_id]) == DagSerialization.to_dict(off.dags[dag_id])
        cache = open_cache()
        assert cache is not None
        for name in ("broken.yaml", "not_yaml.yaml"):  # broken files are never cached
            assert not cache.path_of(cache.key((dags_copy / "pipelines" / name).read_bytes())).exists()
        assert cache.path_of(cache.key((dags_copy / "pipelines" / "shop.yaml").read_bytes())).exists()
    finally:
        reset_default_cache()


def test_a_worker_loads_only_its_pipeline_from_the_cache(
    dags_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = bag(dags_copy)  # fills the cache, as the dag-processor does
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "shop")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "soak")
    try:
        worker = bag(dags_copy)
        assert worker.dag_ids == ["shop"] and worker.import_errors == {}
        assert DagSerialization.to_dict(worker.dags["shop"]) == DagSerialization.to_dict(full.dags["shop"])
        # Proof that the worker read the entry rather than building: mark it, and see the mark.
        cache = open_cache()
        assert cache is not None
        key = cache.key((dags_copy / "pipelines" / "shop.yaml").read_bytes())
        marked = cache.load(key)
        assert marked is not None
        marked.description = "from the cache"
        assert cache.store(key, marked)
        assert bag(dags_copy).dags["shop"].description == "from the cache"
    finally:
        reset_default_cache()


SENTINELS = """\
name: sentinels
stages:
  - {id: child, type: pipeline, pipeline_name: other_pipeline, wait_for_completion: true}
  - {id: gate, type: check_preconditions, depends_on: [child],
     preconditions: [{type: stage_status, stage: child, status: [success]}]}
  - {id: job, type: run_job, depends_on: [gate], manifest: {apiVersion: batch/v1, kind: Job,
     metadata: {name: j}, spec: {template: {spec: {restartPolicy: Never,
     containers: [{name: c, image: busybox, command: [echo, hi]}]}}}}}
  - {id: bump, type: scale, depends_on: [job], target: deployment web, replicas: 2}
"""


def test_identity_sentinels_survive_the_cache(tmp_path: Path, cache: DagCache) -> None:
    """Airflow compares NOTSET by identity (TriggerDagRunOperator: ``logical_date is NOTSET``)."""
    from airflow.sdk.definitions._internal.types import ArgNotSet

    folder = tmp_path / "sentinel-pipelines"
    folder.mkdir()
    (folder / "sentinels.yaml").write_text(SENTINELS)
    load(folder, cache)  # cold: stores
    warm, errors = load(folder, cache)
    assert errors == []
    fresh = build_dag(load_pipeline_file(folder / "sentinels.yaml"))
    checked = 0
    for task in fresh.tasks:
        cached = warm["sentinels"].get_task(task.task_id)
        for name, value in vars(task).items():
            if isinstance(value, ArgNotSet):
                assert getattr(cached, name) is value, f"{task.task_id}.{name} lost its identity"
                checked += 1
    assert checked > 0
    from airflow.sdk.definitions._internal.types import NOTSET

    assert warm["sentinels"].get_task("child").run_after is NOTSET  # line 245 of trigger_dagrun.py
