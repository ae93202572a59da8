"""The DAG cache's own rules: private folder, safe reads, atomic writes, keys, expiry.

Every failure path ends in "not cached" (None or False), never in an exception: the loader then
builds the DAG as if there were no cache.
"""

from __future__ import annotations

import logging
import os
import pickle
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_delivery.pipeline import cache as cache_module
from airflow_delivery.pipeline.cache import DagCache, environment_fingerprint, open_cache, package_fingerprint
from airflow_delivery.pipeline.dags import build_pipeline_dags, pipeline_files
from airflow_delivery.pipeline.factory import build_dag
from airflow_delivery.pipeline.loader import find_pipeline_files, parse_pipeline_text

NOBODY = 65534
SMALL = "name: small\nstages:\n  - {id: a, type: wait, duration: 5s}\n"


def small_dag() -> Any:
    return build_dag(parse_pipeline_text(SMALL, "small.yaml"))


@pytest.fixture
def cache(tmp_path: Path) -> DagCache:
    opened = open_cache(tmp_path / "cache")
    assert opened is not None
    return opened


def test_the_folder_is_created_private(tmp_path: Path) -> None:
    opened = open_cache(tmp_path / "home" / "cache" / "delivery-pipelines")
    assert opened is not None
    assert stat.S_IMODE(os.stat(opened.folder).st_mode) == 0o700


def test_a_folder_others_could_write_is_made_private(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o777)
    os.chmod(folder, 0o777)
    assert open_cache(folder) is not None
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a folder to another user")
def test_a_folder_of_another_user_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    os.chown(folder, NOBODY, NOBODY)
    with caplog.at_level(logging.WARNING):
        assert open_cache(folder) is None
    assert "belongs to uid 65534" in caplog.text


def test_a_symlinked_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / "cache").symlink_to(tmp_path / "elsewhere")
    assert open_cache(tmp_path / "cache") is None


def test_an_unusable_home_means_no_cache_and_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "file").write_text("not a folder")
    with caplog.at_level(logging.WARNING):
        assert open_cache(tmp_path / "file" / "cache") is None
    assert "Pipeline DAG cache is off" in caplog.text


def test_the_cache_can_be_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__DELIVERY__PIPELINE_CACHE", "False")
    assert open_cache(tmp_path / "cache") is None


def test_without_a_cache_every_pipeline_is_built(tmp_path: Path) -> None:
    (tmp_path / "small.yaml").write_text(SMALL)
    namespace: dict[str, Any] = {}
    assert build_pipeline_dags(tmp_path, namespace, cache=None) == []
    assert [dag.dag_id for dag in namespace.values()] == ["small"]


def test_store_and_load_round_trip(cache: DagCache) -> None:
    key = cache.key(SMALL.encode())
    assert cache.load(key) is None
    assert cache.store(key, small_dag())
    loaded = cache.load(key)
    assert loaded is not None and loaded.dag_id == "small" and loaded.task_ids == ["a"]
    assert stat.S_IMODE(os.stat(cache.path_of(key)).st_mode) & 0o077 == 0
    assert [p.name for p in cache.folder.iterdir()] == [cache.path_of(key).name]  # no temp files left


def test_keys_depend_on_content_and_fingerprint(tmp_path: Path) -> None:
    one, other = DagCache(tmp_path, b"one"), DagCache(tmp_path, b"other")
    assert one.key(b"a") == one.key(b"a")
    assert one.key(b"a") != one.key(b"b")
    assert one.key(b"a") != other.key(b"a")


def test_the_fingerprint_follows_package_sources_and_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mod.py").write_text("X = 1\n")
    (tmp_path / "__pycache__").mkdir()
    first = environment_fingerprint(tmp_path)
    (tmp_path / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"ignored")
    assert environment_fingerprint(tmp_path) == first
    (tmp_path / "mod.py").write_text("X = 10\n")
    second = environment_fingerprint(tmp_path)
    assert second != first
    monkeypatch.setenv("AIRFLOW__CORE__DEFAULT_TASK_RETRIES", "7")  # operators would get retries=7
    assert environment_fingerprint(tmp_path) != second
    assert any(entry.startswith("pipeline/cache.py:") for entry in package_fingerprint())


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(
            lambda data: data.replace(b"airflow-delivery", b"something-else", 1), id="foreign header"
        ),
        pytest.param(
            lambda data: data[: data.index(b"\n", 30) + 1] + pickle.dumps({"not": "a DAG"}), id="not a DAG"
        ),
    ],
)
def test_a_damaged_entry_is_ignored_with_one_warning(
    cache: DagCache, damage: Any, caplog: pytest.LogCaptureFixture
) -> None:
    key = cache.key(SMALL.encode())
    cache.store(key, small_dag())
    path = cache.path_of(key)
    path.write_bytes(damage(path.read_bytes()))
    with caplog.at_level(logging.DEBUG, logger=cache_module.__name__):
        assert cache.load(key) is None
        assert cache.load(key) is None
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.WARNING, logging.DEBUG]
    assert str(path) in caplog.records[0].getMessage()


def test_an_entry_of_another_key_is_ignored(cache: DagCache) -> None:
    key, other = cache.key(b"one"), cache.key(b"two")
    cache.store(key, small_dag())
    os.replace(cache.path_of(key), cache.path_of(other))
    assert cache.load(other) is None


def test_a_symlinked_entry_is_not_followed(cache: DagCache, tmp_path: Path) -> None:
    key = cache.key(SMALL.encode())
    cache.store(key, small_dag())
    planted = tmp_path / "planted.pickle"
    os.replace(cache.path_of(key), planted)
    cache.path_of(key).symlink_to(planted)
    assert cache.load(key) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_an_entry_of_another_user_is_not_unpickled(cache: DagCache) -> None:
    key = cache.key(SMALL.encode())
    cache.store(key, small_dag())
    os.chown(cache.path_of(key), NOBODY, NOBODY)
    assert cache.load(key) is None


def test_an_unpicklable_dag_is_not_cached_and_leaves_nothing(cache: DagCache) -> None:
    dag = small_dag()
    dag.user_defined_macros = {"inline": lambda: 1}  # a lambda cannot be pickled
    assert cache.store(cache.key(b"x"), dag) is False
    assert list(cache.folder.iterdir()) == []


def test_a_failed_write_is_only_logged(cache: DagCache, caplog: pytest.LogCaptureFixture) -> None:
    os.rmdir(cache.folder)  # removed under our feet
    with caplog.at_level(logging.WARNING):
        assert cache.store(cache.key(b"x"), small_dag()) is False
    assert "cannot write cache entry" in caplog.text


def test_prune_removes_entries_unused_for_a_week(cache: DagCache) -> None:
    old, fresh = cache.key(b"old"), cache.key(b"fresh")
    cache.store(old, small_dag())
    cache.store(fresh, small_dag())
    week_ago = time.time() - 8 * 24 * 3600
    os.utime(cache.path_of(old), (week_ago, week_ago))
    (cache.folder / ".tmp-left-by-a-crash").write_bytes(b"x")
    os.utime(cache.folder / ".tmp-left-by-a-crash", (week_ago, week_ago))
    assert cache.prune() == 2
    assert not cache.path_of(old).exists() and cache.path_of(fresh).exists()
    os.utime(cache.path_of(fresh), (week_ago, week_ago))
    assert cache.prune() == 0  # at most once an hour
    assert cache.prune(force=True) == 1


def test_a_used_entry_is_kept_from_expiring(cache: DagCache) -> None:
    key = cache.key(b"used")
    cache.store(key, small_dag())
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(cache.path_of(key), (two_days_ago, two_days_ago))
    assert cache.load(key) is not None
    assert time.time() - cache.path_of(key).stat().st_mtime < 3600


def test_pipeline_files_match_the_loaders_rule(tmp_path: Path) -> None:
    for name in ("b.yaml", "a.yml", "sub/c.yaml", ".hidden.yaml", "notes.txt", "x.yaml.bak"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(SMALL)
    (tmp_path / "dir.yaml").mkdir()
    assert list(pipeline_files(tmp_path)) == list(find_pipeline_files(tmp_path))
    assert [p.name for p in pipeline_files(tmp_path)] == ["a.yml", "b.yaml", "c.yaml"]
    assert list(pipeline_files(tmp_path / "missing")) == []
