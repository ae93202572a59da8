"""Pipelines that start pipelines, and people ending waits, on a real ``airflow standalone``.

One Airflow for the module (starting one takes most of a minute). Covered:

* promotion: ``staging`` (``publish: true``) run by hand with ``app=v7`` publishes the asset
  ``delivery.pipeline.staging`` with what it deployed; ``production`` (trigger ``{type: pipeline,
  pipeline: staging}``) starts on that asset event by itself and its stages see ``app == 'v7'``;
* a person ends a ``wait`` early: marking the deferred stage successful through the REST API (the
  UI's "Mark as success") cancels the wait, and the next stage runs at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.airflow import RunningAirflow, start_standalone
from tests.integration.stages.support import write_pipelines
from tests.support import wait_until

pytestmark = pytest.mark.integration

STAGING = """\
name: staging
publish: true
artifacts:
  - {name: app, repository: registry.local/app}
stages:
  - {id: deploy, type: wait, duration: 0s}
  - {id: smoke, type: wait, duration: 0s, depends_on: [deploy]}
"""

PRODUCTION = """\
name: production
artifacts:
  - {name: app, repository: registry.local/app, required: false}
triggers:
  - {type: pipeline, pipeline: staging}
stages:
  - {id: deploy, type: wait, duration: 0s, when: "artifacts['app'] == 'v7'"}
  - {id: never, type: wait, duration: 0s, when: "artifacts['app'] != 'v7'"}
"""

HOLD = """\
name: hold
stages:
  - {id: hold, type: wait, duration: 1h}
  - {id: after, type: wait, duration: 0s, depends_on: [hold]}
"""


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAirflow]:
    tmp = tmp_path_factory.mktemp("promotion-standalone")
    dags = write_pipelines(tmp / "dags", staging=STAGING, production=PRODUCTION, hold=HOLD)
    running = start_standalone(tmp, dags_folder=dags)
    try:
        yield running
    finally:
        running.process.stop()


def unpause(api: httpx.Client, dag_id: str) -> None:
    wait_until(
        lambda: api.get(f"/dags/{dag_id}").status_code == 200,
        timeout=120,
        message=f"the dag-processor to serialise {dag_id}",
    )
    assert api.patch(f"/dags/{dag_id}", json={"is_paused": False}).status_code == 200


def task_states(api: httpx.Client, dag_id: str, run_id: str) -> dict[str, str | None]:
    tis = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    return {t["task_id"]: t["state"] for t in tis}


def xcom(api: httpx.Client, dag_id: str, run_id: str, task_id: str) -> Any:
    response = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value")
    assert response.status_code == 200, response.text
    return response.json()["value"]


def test_staging_promotes_what_it_deployed_to_production(airflow: RunningAirflow) -> None:
    with airflow.client() as api:
        unpause(api, "production")
        unpause(api, "staging")
        created = api.post(
            "/dags/staging/dagRuns",
            json={"logical_date": None, "dag_run_id": "s-1", "conf": {"artifacts": {"app": "v7"}}},
        )
        assert created.status_code == 200, created.text
        staged = airflow.wait_for_run(api, "staging", "s-1")
        assert staged["state"] == "success", airflow.process.log_text()[-4000:]
        assert task_states(api, "staging", "s-1") == {
            "deploy": "success",
            "smoke": "success",
            "publish": "success",
        }
        published = {"pipeline": "staging", "run_id": "s-1", "artifacts": {"app": "v7"}}
        assert xcom(api, "staging", "s-1", "publish") == published

        runs = wait_until(
            lambda: api.get("/dags/production/dagRuns").json()["dag_runs"],
            timeout=120,
            message="the staging asset event to start a production run",
        )
        (run,) = runs
        assert run["run_type"] == "asset_triggered"
        finished = airflow.wait_for_run(api, "production", run["dag_run_id"])
        assert finished["state"] == "success", airflow.process.log_text()[-4000:]
        assert task_states(api, "production", run["dag_run_id"]) == {"deploy": "success", "never": "skipped"}

        # Read only now: Airflow 3.3.2 answers 500 while a run the event created has no start date yet.
        response = api.get("/assets/events", params={"source_dag_id": "staging"})
        assert response.status_code == 200, response.text
        (event,) = response.json()["asset_events"]
        assert (event["source_run_id"], event["extra"]) == ("s-1", published)
        assert [r["run_id"] for r in event["created_dagruns"]] == [run["dag_run_id"]]


def test_a_person_ends_a_wait_early_by_marking_it_successful(airflow: RunningAirflow) -> None:
    dag, run = "hold", "h-1"
    ti_path = f"/dags/{dag}/dagRuns/{run}/taskInstances/hold"
    with airflow.client() as api:
        unpause(api, dag)
        assert (
            api.post(f"/dags/{dag}/dagRuns", json={"logical_date": None, "dag_run_id": run}).status_code
            == 200
        )
        # The one-hour wait is deferred and its trigger taken by the triggerer.
        wait_until(
            lambda: (
                (ti := api.get(ti_path).json())["state"] == "deferred"
                and (ti.get("trigger") or {}).get("triggerer_id") is not None
            ),
            timeout=120,
            interval=0.5,
            message="the one-hour wait to run in the triggerer",
        )
        marked = api.patch(ti_path, json={"new_state": "success"})
        assert marked.status_code == 200, marked.text
        finished = airflow.wait_for_run(api, dag, run, timeout=120)
        assert finished["state"] == "success", airflow.process.log_text()[-4000:]
        assert task_states(api, dag, run) == {"hold": "success", "after": "success"}
        # The wait does not go on in the triggerer: its trigger was cancelled as a user action.
        logs = airflow.config.home / "logs" / f"dag_id={dag}" / f"run_id={run}" / "task_id=hold"
        wait_until(
            lambda: any(
                "Trigger cancelled by user action" in path.read_text()
                for path in logs.glob("attempt=1.log.trigger.*")
            ),
            timeout=60,
            interval=0.5,
            message="the triggerer to cancel the wait's trigger",
        )
        assert api.get(ti_path).json()["trigger"] is None
