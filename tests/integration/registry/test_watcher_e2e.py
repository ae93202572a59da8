"""A new image tag starts exactly one run in a real Airflow, also across a triggerer restart.

A real ``airflow standalone`` (scheduler, dag-processor, triggerer, api-server) runs a DAG scheduled
on an Asset whose ``AssetWatcher`` holds ``NewImageTagTrigger``; a real docker-registry receives
pushes. Covered: the first start records the existing tag and starts no run; a pushed tag starts one
run whose ``triggering_asset_events`` carry the artifact; the triggerer is killed, a tag is pushed
while none runs, and a new triggerer takes the watcher over: the watermark read back from the 3.3
asset state store makes the tag pushed during the outage start one run (a fresh baseline would have
swallowed it) and no tag start a second one; the next tag starts exactly one more run.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import httpx
import psutil
import pytest

from airflow_delivery.demo.airflow_env import airflow_executable
from airflow_delivery.hooks.registry import ContainerRegistryHook
from tests.fixtures.airflow import RunningAirflow, start_standalone
from tests.fixtures.registry import RegistryServer, push_sample_image
from tests.support import ManagedProcess, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DAG_ID = "deploy_on_new_tag"
REPOSITORY = "e2e/app"
CONN_ID = "registry_e2e"

DAG_FILE = textwrap.dedent(
    f'''
    """Airflow DAG for the registry watcher end-to-end test."""
    from airflow.sdk import Asset, AssetWatcher, dag, task

    from airflow_delivery.triggers.registry import NewImageTagTrigger

    IMAGE = Asset(
        name="e2e_app_image",
        uri="registry://e2e/app",
        watchers=[
            AssetWatcher(
                name="e2e_app_tags",
                trigger=NewImageTagTrigger(
                    repository="{REPOSITORY}", registry_conn_id="{CONN_ID}", tag_pattern=r"v\\d+\\.\\d+\\.\\d+",
                    poll_interval=1.0, max_backoff=5.0,
                ),
            )
        ],
    )


    @dag(dag_id="{DAG_ID}", schedule=[IMAGE], catchup=False)
    def deploy_on_new_tag():
        @task
        def artifact(**context):
            (events,) = context["triggering_asset_events"].values()
            return [event.extra["payload"] for event in events]

        artifact()


    deploy_on_new_tag()
    '''
)


def _polls(registry: RegistryServer) -> int:
    """How many tag listings of REPOSITORY the registry has served (its request log)."""
    return registry.log_text().count(f"http.request.uri=/v2/{REPOSITORY}/tags/list")


def _runs(api: httpx.Client) -> list[dict[str, object]]:
    return list(api.get(f"/dags/{DAG_ID}/dagRuns", params={"order_by": "run_after"}).json()["dag_runs"])


def _payloads(api: httpx.Client, airflow: RunningAirflow, run_id: str) -> list[dict[str, str]]:
    run = airflow.wait_for_run(api, DAG_ID, run_id, timeout=180)
    assert run["state"] == "success", airflow.process.log_text()[-4000:]
    xcom = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/artifact/xcomEntries/return_value")
    assert xcom.status_code == 200, xcom.text
    value = xcom.json()["value"]
    return json.loads(value) if isinstance(value, str) else value


def _is_triggerer(process: psutil.Process) -> bool:
    try:
        return "triggerer" in " ".join(process.cmdline())
    except psutil.Error:  # exited meanwhile, or a zombie waiting to be reaped
        return False


def _kill_triggerer(airflow: RunningAirflow) -> None:
    """Kill the standalone's triggerer (and its trigger runner), by pid: a crash, not a shutdown."""
    triggerers = [p for p in psutil.Process(airflow.process.pid).children(recursive=True) if _is_triggerer(p)]
    assert triggerers, "no triggerer process under airflow standalone"
    for process in triggerers:
        try:
            for child in process.children(recursive=True):
                child.kill()
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(triggerers, timeout=30)


def test_each_new_tag_starts_exactly_one_run_across_a_triggerer_restart(
    tmp_path: Path, registry_server: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = registry_server.connection_json()
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection)
    hook = ContainerRegistryHook(CONN_ID)
    push_sample_image(hook, REPOSITORY, "v1.0.0")

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "deploy_on_new_tag.py").write_text(DAG_FILE)
    env = {
        f"AIRFLOW_CONN_{CONN_ID.upper()}": connection,
        # A dead triggerer's triggers move to a live one after this many seconds without heartbeat.
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
    }
    airflow = start_standalone(tmp_path, dags_folder=dags, env=env)
    second_triggerer: ManagedProcess | None = None
    try:
        with airflow.client() as api:
            wait_until(
                lambda: api.get(f"/dags/{DAG_ID}").status_code == 200,
                timeout=120,
                message=f"the dag-processor to serialise {DAG_ID}",
            )
            assert api.patch(f"/dags/{DAG_ID}", json={"is_paused": False}).status_code == 200

            # Two listings: the first recorded the baseline (v1.0.0), the second found nothing new.
            wait_until(lambda: _polls(registry_server) >= 2, timeout=180, message="the watcher's first polls")
            assert _runs(api) == [], "the first start must not start runs for existing tags"

            digest = push_sample_image(hook, REPOSITORY, "v1.1.0")
            push_sample_image(hook, REPOSITORY, "latest", content="moved")  # ignored
            (first,) = wait_until(lambda: _runs(api), timeout=120, message="a run for v1.1.0")
            payloads = _payloads(api, airflow, str(first["dag_run_id"]))
            assert [(p["tag"], p["digest"]) for p in payloads] == [("v1.1.0", digest)]
            assert payloads[0]["registry"] == registry_server.host

            _kill_triggerer(airflow)
            # Pushed while no triggerer runs: only a watermark read back from the asset state store
            # tells this tag from the baseline (a fresh baseline would swallow it).
            during_outage = push_sample_image(hook, REPOSITORY, "v1.1.1")
            second_triggerer = ManagedProcess(
                [airflow_executable(), "triggerer"],
                log_path=tmp_path / "triggerer-2.log",
                env=airflow.config.env({"AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5", **env}),
                cwd=tmp_path,
            )
            runs = wait_until(
                lambda: (len(r := _runs(api)) >= 2 and r) or not second_triggerer.alive(),
                timeout=180,
                message="the new triggerer to start a run for v1.1.1",
            )
            assert second_triggerer.alive(), second_triggerer.log_text()[-3000:]
            payloads = _payloads(api, airflow, str(runs[-1]["dag_run_id"]))
            assert [(p["tag"], p["digest"]) for p in payloads] == [("v1.1.1", during_outage)]

            # Two more polls by the new triggerer: no second run for v1.1.0 or v1.1.1.
            polls_before = _polls(registry_server)
            wait_until(
                lambda: _polls(registry_server) >= polls_before + 2, timeout=60, message="two more polls"
            )
            assert len(_runs(api)) == 2

            newer = push_sample_image(hook, REPOSITORY, "v1.2.0")
            runs = wait_until(
                lambda: len(r := _runs(api)) >= 3 and r, timeout=120, message="a run for v1.2.0"
            )
            assert len(runs) == 3
            payloads = _payloads(api, airflow, str(runs[-1]["dag_run_id"]))
            assert [(p["tag"], p["digest"]) for p in payloads] == [("v1.2.0", newer)]
    finally:
        if second_triggerer is not None:
            second_triggerer.stop()
        airflow.process.stop()
