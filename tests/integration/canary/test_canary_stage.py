"""The canary stage end to end under ``dag.test()``: DAG -> operator -> trigger -> real Prometheus.

The analysis starts at a fixed past time, so each interval's window is already over and its trigger
fires at once; ``min_deferral=0`` makes every interval a deferral of its own, as in a real-time run.
Covered: a healthy canary passes after every interval (full judge result of each in XCom); a
regressed canary fails at the first interval; a canary with a missing series fails safe with the
reason; Prometheus down fails safe; a marginal canary fails, continues or asks a person per
``on_marginal`` (and a downstream task can branch on ``needs_judgment``); a config by name; a broken
config fails before any interval.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

from tests.integration.canary.dags.canary_scenarios import CONN_ID, DOWN_CONN_ID
from tests.integration.canary.scenarios import INTERVAL, T0, dataset
from tests.support import free_port

pytestmark = pytest.mark.integration

DAGS = Path(__file__).resolve().parent / "dags"
BUNDLE = "canary-stage-tests"


@pytest.fixture(scope="module")
def prometheus(prometheus_factory):
    return prometheus_factory(backfill_series=dataset())


@pytest.fixture
def prom(prometheus, prometheus_connection):
    prometheus_connection(CONN_ID, prometheus.url)
    return prometheus


@pytest.fixture
def dags(airflow_db, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The scenario DAGs, in a bundle of their own (``dag.test()`` runs only DAGs of a configured bundle)."""
    local = "airflow.dag_processing.bundles.local.LocalDagBundle"
    bundles = [
        {"name": "dags-folder", "classpath": local, "kwargs": {}},
        {"name": BUNDLE, "classpath": local, "kwargs": {"path": str(DAGS), "refresh_interval": 0}},
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
    bag = DagBag(str(DAGS), bundle_path=DAGS, bundle_name=BUNDLE)
    assert not bag.import_errors, bag.import_errors
    yield bag.dags


def run(dags: dict[str, Any], dag_id: str, **options: Any) -> Any:
    return dags[dag_id].test(**options)


def xcoms(dag_run: Any, task_id: str) -> list[Any]:
    query = XComModel.get_many(
        run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key="return_value"
    )
    with create_session() as session:
        return [XComModel.deserialize_value(row) for row in session.scalars(query)]


def xcom(dag_run: Any, task_id: str) -> Any:
    values = xcoms(dag_run, task_id)
    assert len(values) == 1, f"expected one XCom from {task_id}, got {len(values)}"
    return values[0]


def summary(result: dict) -> list[tuple[int, float, str]]:
    return [(i["interval"], i["score"], i["classification"]) for i in result["intervals"]]


def test_healthy_canary_passes_every_interval(dags, prom) -> None:
    dag_run = run(dags, "canary_healthy")
    assert dag_run.state == "success"
    result = xcom(dag_run, "canary")
    assert result["verdict"] == "Pass" and result["succeeded"] and not result["needs_judgment"]
    assert summary(result) == [(1, 100.0, "Pass"), (2, 100.0, "Pass"), (3, 100.0, "Pass")]
    ends = [i["window"]["experiment"]["end"] for i in result["intervals"]]
    assert ends == [(T0 + n * INTERVAL).isoformat() for n in (1, 2, 3)]
    for interval in result["intervals"]:  # every full judge result, for a report
        judged = interval["judge_result"]
        assert judged["score"]["classification"] == "Pass"
        assert {r["classification"] for r in judged["results"]} == {"Pass"}
        assert all("statistics" in r["resultMetadata"] for r in judged["results"])


def test_regressed_canary_fails_early(dags, prom) -> None:
    dag_run = run(dags, "canary_regressed")
    assert dag_run.state == "failed"
    assert dag_run.get_task_instance("canary").state == "failed"
    result = xcom(dag_run, "canary")  # published although the task failed
    assert summary(result) == [(1, 0.0, "Fail")]
    assert result["stopped_early"] and result["intervals_planned"] == 3
    assert (
        result["reason"] == "canary score 0 of interval 1 of 3 is not above the marginal score threshold 50"
    )


def test_missing_data_fails_safe_with_the_reason(dags, prom) -> None:
    dag_run = run(dags, "canary_missing")
    assert dag_run.state == "failed"
    result = xcom(dag_run, "canary")
    assert summary(result)[0][2] == "Nodata" and result["intervals_judged"] == 1
    (problem,) = result["intervals"][0]["data_problems"]
    assert problem["metric"] == "memory_bytes" and problem["status"] == "nodata"
    assert (
        result["reason"]
        == f"interval 1 of 3 failed safe: no data for metric 'memory_bytes': {problem['reason']}"
    )


def test_missing_data_can_be_left_to_kayentas_rules(dags, prom) -> None:
    dag_run = run(dags, "canary_missing_judge")
    assert dag_run.state == "success"
    result = xcom(dag_run, "canary")
    assert result["verdict"] == "Pass"
    assert any("(ignored by on_missing_data='judge') memory_bytes" in r for r in result["reasons"])


def test_prometheus_down_fails_safe(dags, prometheus_connection) -> None:
    prometheus_connection(DOWN_CONN_ID, f"http://127.0.0.1:{free_port()}")
    dag_run = run(dags, "canary_prometheus_down")
    assert dag_run.state == "failed"
    result = xcom(dag_run, "canary")
    assert summary(result) == [(1, 0.0, "Nodata")]
    assert "could not be fetched from Prometheus" in result["reason"]


def test_marginal_fails_by_default(dags, prom) -> None:
    dag_run = run(dags, "canary_marginal_fail")
    assert dag_run.state == "failed"
    result = xcom(dag_run, "canary")
    assert summary(result) == [(n, 66.67, "Marginal") for n in (1, 2, 3)]
    assert result["verdict"] == "Marginal" and not result["succeeded"]
    assert result["reason"].endswith("failing (on_marginal='fail')")


def test_marginal_can_continue(dags, prom) -> None:
    dag_run = run(dags, "canary_marginal_continue")
    assert dag_run.state == "success"
    result = xcom(dag_run, "canary")
    assert result["verdict"] == "Marginal" and result["succeeded"] and not result["needs_judgment"]


def test_marginal_can_be_handed_to_a_person(dags, prom) -> None:
    dag_run = run(dags, "canary_marginal_ask")
    assert dag_run.state == "success"
    result = xcom(dag_run, "canary")
    assert result["verdict"] == "Marginal" and result["needs_judgment"]
    assert xcom(dag_run, "after") == "manual-judgment"


def test_config_by_name_from_a_folder(dags, prom) -> None:
    dag_run = run(dags, "canary_by_name")
    assert dag_run.state == "success"
    result = xcom(dag_run, "canary")
    assert result["canary_config"] == "service-health" and result["intervals_planned"] == 1


def test_config_by_path_and_a_templated_start(dags, prom) -> None:
    later = T0 + INTERVAL
    dag_run = run(dags, "canary_by_path", run_conf={"start": later.isoformat()})
    assert dag_run.state == "success"
    window = xcom(dag_run, "canary")["intervals"][0]["window"]["experiment"]
    assert window == {"start": later.isoformat(), "end": (later + INTERVAL).isoformat()}


def test_broken_config_fails_before_any_interval(dags, prom) -> None:
    dag_run = run(dags, "canary_broken_config")
    assert dag_run.state == "failed"
    assert xcoms(dag_run, "canary") == []
