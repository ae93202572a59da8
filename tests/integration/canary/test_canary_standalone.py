"""The canary stage under a real scheduler, worker and triggerer (``airflow standalone``).

Unlike ``dag.test()``, here the trigger runs in the triggerer process and the analysis ends there:
the task goes from deferred straight to success or failed with the whole result as its XCom, with no
worker resuming it. Covered: a healthy canary passes, a regressed one fails with its result still
published, a marginal one asks a person (``needs_judgment``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.airflow import RunningAirflow, start_standalone
from tests.integration.canary.dags.canary_scenarios import CONN_ID
from tests.integration.canary.scenarios import dataset
from tests.support import REPO_ROOT, wait_until

pytestmark = pytest.mark.integration

DAGS = Path(__file__).resolve().parent / "dags"


@pytest.fixture(scope="module")
def airflow(prometheus_factory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAirflow]:
    prometheus = prometheus_factory(backfill_series=dataset())
    running = start_standalone(
        tmp_path_factory.mktemp("canary-standalone"),
        dags_folder=DAGS,
        env={
            "PYTHONPATH": str(REPO_ROOT),  # the DAG file imports the test scenarios
            f"AIRFLOW_CONN_{CONN_ID.upper()}": prometheus.connection_json(),
        },
    )
    try:
        yield running
    finally:
        running.process.stop()


def run_dag(airflow: RunningAirflow, dag_id: str) -> tuple[dict[str, Any], dict[str, Any], Any]:
    with airflow.client() as api:
        wait_until(
            lambda: api.get(f"/dags/{dag_id}").status_code == 200,
            timeout=120,
            message=f"the dag-processor to serialise {dag_id}",
        )
        assert api.patch(f"/dags/{dag_id}", json={"is_paused": False}).status_code == 200
        created = api.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "dag_run_id": "r1"})
        assert created.status_code == 200, created.text
        run = airflow.wait_for_run(api, dag_id, "r1", timeout=240)
        ti = api.get(f"/dags/{dag_id}/dagRuns/r1/taskInstances/canary").json()
        xcom = api.get(
            f"/dags/{dag_id}/dagRuns/r1/taskInstances/canary/xcomEntries/return_value",
            params={"deserialize": "true", "stringify": "false"},
        )
        assert xcom.status_code == 200, (xcom.text, airflow.process.log_text()[-4000:])
        return run, ti, xcom.json()["value"]


def test_healthy_canary_passes_in_the_triggerer(airflow: RunningAirflow) -> None:
    run, ti, result = run_dag(airflow, "canary_standalone_pass")
    assert run["state"] == "success", airflow.process.log_text()[-4000:]
    assert ti["state"] == "success" and ti["try_number"] == 1
    assert result["verdict"] == "Pass" and [i["interval"] for i in result["intervals"]] == [1, 2, 3]


def test_regressed_canary_fails_with_its_result(airflow: RunningAirflow) -> None:
    run, ti, result = run_dag(airflow, "canary_standalone_regressed")
    assert run["state"] == "failed" and ti["state"] == "failed"
    assert result["verdict"] == "Fail" and result["intervals_judged"] == 1 and result["stopped_early"]


def test_marginal_canary_asks_a_person(airflow: RunningAirflow) -> None:
    run, ti, result = run_dag(airflow, "canary_standalone_marginal_ask")
    assert run["state"] == "success"
    assert result["verdict"] == "Marginal" and result["needs_judgment"]
