"""Faults during a real-time canary analysis, on Airflow run as separate processes (issue 7 §2).

Covered:

* the triggerer is SIGKILLed while the canary's trigger sleeps in interval 2 and started again: the
  analysis resumes from the trigger's stored kwargs and judges every interval exactly once, with the
  verdict and interval results an undisturbed judgment of the same windows gives;
* Prometheus stops while the canary waits for interval 2: that interval is Nodata (every metric
  Nodata/NodataFailMetric, the fetch error as the reason) and the canary fails safe instead of passing.

Metrics are scraped live from :class:`~tests.integration.faults.live_canary.LiveCanaryExporter` by
two real Prometheus servers (the second one is the one that goes down). One Airflow serves both tests.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_delivery.canary.analysis import AnalysisPlan, analysis_result
from airflow_delivery.triggers.canary import CanaryIntervalTrigger
from airflow_delivery.utils.xcom import decode_result
from tests.fixtures.airflow_components import AirflowComponents, start_components
from tests.fixtures.prometheus import PrometheusInstance, running_prometheus
from tests.integration.faults.live_canary import (
    CASES,
    INTERVAL,
    OUTAGE_CASE,
    OUTAGE_CONN_ID,
    OUTAGE_DAG,
    OUTAGE_INTERVALS,
    RESTART_CASE,
    RESTART_CONN_ID,
    RESTART_DAG,
    RESTART_INTERVALS,
    SETTLE,
    LiveCanaryExporter,
    live_config,
    live_scope,
)
from tests.support import REPO_ROOT, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.faults]

DAGS = Path(__file__).resolve().parent / "dags"
TASK = "canary"
#: A fault must land this long before the sleeping interval is due, or it would not hit the sleep.
FAULT_MARGIN = 3.0


@dataclass
class FaultSetup:
    airflow: AirflowComponents
    exporter: LiveCanaryExporter
    prometheus: PrometheusInstance
    outage_prometheus: PrometheusInstance


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultSetup]:
    with ExitStack() as stack:
        exporter = stack.enter_context(LiveCanaryExporter())
        prometheus = stack.enter_context(
            running_prometheus(tmp_path_factory.mktemp("prometheus"), scrape_targets=[exporter.address])
        )
        outage = stack.enter_context(
            running_prometheus(tmp_path_factory.mktemp("prometheus-outage"), scrape_targets=[exporter.address])
        )
        airflow = start_components(
            tmp_path_factory.mktemp("faults-airflow"),
            dags_folder=DAGS,
            env={
                "PYTHONPATH": str(REPO_ROOT),  # the DAG file imports the test's live_canary settings
                f"AIRFLOW_CONN_{RESTART_CONN_ID.upper()}": prometheus.connection_json(),
                f"AIRFLOW_CONN_{OUTAGE_CONN_ID.upper()}": outage.connection_json(),
            },
        )
        stack.callback(airflow.stop_all)
        for server in (prometheus, outage):
            wait_until(
                lambda server=server: {s["metric"]["case"] for s in server.instant('canary_cpu_seconds{version="canary"}')}
                == set(CASES),
                timeout=60,
                message=f"Prometheus on {server.url} to scrape the live exporter",
            )
        yield FaultSetup(airflow, exporter, prometheus, outage)


# -- helpers ------------------------------------------------------------------------------------


def start_run(airflow: AirflowComponents, api: httpx.Client, dag_id: str, run_id: str) -> datetime:
    """Unpause ``dag_id`` and start a run whose analysis starts now; returns that start."""
    wait_until(
        lambda: api.get(f"/dags/{dag_id}").status_code == 200,
        timeout=120,
        message=f"the dag-processor to serialise {dag_id}",
    )
    assert api.patch(f"/dags/{dag_id}", json={"is_paused": False}).status_code == 200
    start = datetime.now(UTC).replace(microsecond=0)
    created = api.post(
        f"/dags/{dag_id}/dagRuns",
        json={"logical_date": None, "dag_run_id": run_id, "conf": {"start": start.isoformat()}},
    )
    assert created.status_code == 200, created.text
    return start


def task_instance(api: httpx.Client, dag_id: str, run_id: str) -> dict[str, Any]:
    response = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{TASK}")
    response.raise_for_status()
    return dict(response.json())


def wait_for_deferral(
    airflow: AirflowComponents, api: httpx.Client, dag_id: str, run_id: str, number: int
) -> dict[str, Any]:
    """Wait until the task is deferred for the ``number``-th time and a triggerer runs that trigger.

    Each interval is one deferral (intervals are longer than ``min_deferral``), so the ``number``-th
    distinct trigger is the one sleeping until interval ``number`` is due.
    """
    seen: list[int] = []

    def deferred() -> dict[str, Any] | None:
        airflow.raise_if_dead()
        ti = task_instance(api, dag_id, run_id)
        if ti["state"] in ("success", "failed", "up_for_retry"):
            raise AssertionError(f"{dag_id} ended before deferral {number}: {ti['state']}")
        trigger = ti.get("trigger") or {}
        if ti["state"] == "deferred" and trigger.get("id") is not None and trigger["id"] not in seen:
            seen.append(trigger["id"])
        if len(seen) > number:
            raise AssertionError(f"missed deferral {number} of {dag_id}: triggers seen {seen}")
        return ti if len(seen) == number and trigger.get("triggerer_id") is not None else None

    return wait_until(deferred, timeout=120, interval=0.25, message=f"deferral {number} of {dag_id}")


def canary_result(api: httpx.Client, dag_id: str, run_id: str) -> dict[str, Any]:
    xcom = api.get(
        f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{TASK}/xcomEntries/return_value",
        params={"deserialize": "true", "stringify": "false"},
    )
    assert xcom.status_code == 200, xcom.text
    result = decode_result(xcom.json()["value"])
    assert isinstance(result, dict), result
    return result


def due_in(plan: AnalysisPlan, number: int) -> float:
    return (plan.due(number, SETTLE) - datetime.now(UTC)).total_seconds()


def rejudge(result: dict[str, Any], dag_id: str, case: str, conn_id: str) -> list[dict[str, Any]]:
    """Judge every planned window again, undisturbed, in this process: the same code, data and seed."""
    trigger = CanaryIntervalTrigger(
        plan=result["plan"],
        canary_config=live_config(dag_id),
        scopes={"default": live_scope(case)},
        interval=1,
        metrics_conn_id=conn_id,
    )

    async def judge_all() -> list[dict[str, Any]]:
        return [await trigger.judge_interval(n) for n in range(1, len(result["intervals"]) + 1)]

    return asyncio.run(judge_all())


def judged_in_logs(text: str) -> list[int]:
    """Interval numbers the canary trigger logged as judged ("Canary interval i of n: score ...")."""
    return [int(n) for n in re.findall(r"Canary interval (\d+) of \d+: score", text)]


# -- tests --------------------------------------------------------------------------------------


def test_triggerer_killed_mid_analysis_resumes_without_losing_or_repeating_intervals(
    setup: FaultSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    airflow, run_id = setup.airflow, "triggerer-killed"
    with airflow.client() as api:
        start = start_run(airflow, api, RESTART_DAG, run_id)
        plan = AnalysisPlan(start=start, lifetime=INTERVAL * RESTART_INTERVALS, interval=INTERVAL, lookback=INTERVAL)
        # The last window's canary is regressed: only judging interval 4 on its own data fails it.
        setup.exporter.regress(RESTART_CASE, plan.window(RESTART_INTERVALS).start + (SETTLE * 2))

        sleeping = wait_for_deferral(airflow, api, RESTART_DAG, run_id, number=2)
        assert due_in(plan, 2) > FAULT_MARGIN, "the machine is too slow: interval 2 was due before the kill"
        killed_trigger = sleeping["trigger"]["id"]
        airflow.kill("triggerer")
        killed_at = datetime.now(UTC)
        assert task_instance(api, RESTART_DAG, run_id)["state"] == "deferred"
        airflow.start("triggerer")
        airflow.wait_started("triggerer")

        run = airflow.wait_for_run(api, RESTART_DAG, run_id, timeout=240)
        ti = task_instance(api, RESTART_DAG, run_id)
        result = canary_result(api, RESTART_DAG, run_id)
    logs = airflow.task_log_text(RESTART_DAG, run_id, TASK)

    # The verdict an undisturbed analysis gives: intervals 1-3 pass, the regressed interval 4 fails.
    assert run["state"] == "failed" and ti["state"] == "failed" and ti["try_number"] == 1, logs[-4000:]
    assert result["verdict"] == "Fail" and not result["stopped_early"], result["reasons"]
    assert [i["classification"] for i in result["intervals"]] == ["Pass", "Pass", "Pass", "Fail"], result["reasons"]
    # Nothing lost, nothing repeated.
    assert result["intervals_judged"] == result["intervals_planned"] == RESTART_INTERVALS
    assert [i["interval"] for i in result["intervals"]] == [1, 2, 3, 4]
    assert sorted(judged_in_logs(logs)) == [1, 2, 3, 4], logs[-4000:]
    # Interval 2 was judged by the restarted triggerer, from the killed trigger's stored kwargs.
    assert airflow.starts["triggerer"] == 2
    window_2_end = datetime.fromisoformat(result["intervals"][1]["window"]["experiment"]["end"])
    assert killed_at < window_2_end, "the triggerer must die before interval 2's window is over"
    assert killed_trigger is not None

    # Every recorded interval equals an undisturbed judgment of the same window.
    monkeypatch.setenv(f"AIRFLOW_CONN_{RESTART_CONN_ID.upper()}", setup.prometheus.connection_json())
    undisturbed = rejudge(result, RESTART_DAG, RESTART_CASE, RESTART_CONN_ID)
    for recorded, again in zip(result["intervals"], undisturbed, strict=True):
        assert json.loads(json.dumps(again)) == recorded, f"interval {recorded['interval']} differs"
    expected = analysis_result(undisturbed, AnalysisPlan.from_dict(result["plan"]), canary_config_name=RESTART_DAG)
    assert (result["verdict"], result["score"], result["reason"]) == (
        expected["verdict"],
        expected["score"],
        expected["reason"],
    )


def test_prometheus_down_mid_analysis_fails_safe_with_the_reason(setup: FaultSetup) -> None:
    airflow, run_id = setup.airflow, "prometheus-down"
    with airflow.client() as api:
        start = start_run(airflow, api, OUTAGE_DAG, run_id)
        plan = AnalysisPlan(start=start, lifetime=INTERVAL * OUTAGE_INTERVALS, interval=INTERVAL, lookback=INTERVAL)
        wait_for_deferral(airflow, api, OUTAGE_DAG, run_id, number=2)
        assert due_in(plan, 2) > FAULT_MARGIN, "the machine is too slow: interval 2 was due before the outage"
        setup.outage_prometheus.stop()
        run = airflow.wait_for_run(api, OUTAGE_DAG, run_id, timeout=180)
        ti = task_instance(api, OUTAGE_DAG, run_id)
        result = canary_result(api, OUTAGE_DAG, run_id)

    assert run["state"] == "failed" and ti["state"] == "failed"
    assert result["verdict"] == "Fail" and not result["succeeded"] and result["stopped_early"]
    assert result["intervals_judged"] == 2 and result["intervals_planned"] == OUTAGE_INTERVALS
    first, second = result["intervals"]
    assert first["classification"] == "Pass" and first["score"] == 100
    # Kayenta alone scores a group without data as 100; the stage labels the interval Nodata, scores 0.
    assert second["classification"] == "Nodata" and second["score"] == 0
    metrics = second["judge_result"]["results"]
    assert metrics and all(m["classification"] in ("Nodata", "NodataFailMetric") for m in metrics), metrics
    assert {p["metric"] for p in second["data_problems"]} == {m["name"] for m in metrics}
    assert all(p["status"] == "error" for p in second["data_problems"]), second["data_problems"]
    assert all(r.startswith("metrics could not be fetched: ") for r in second["reasons"]), second["reasons"]
    assert OUTAGE_CONN_ID in " ".join(second["reasons"]), second["reasons"]
    assert "interval 2 of 3 failed safe" in result["reason"], result["reason"]
