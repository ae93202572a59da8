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
from functools import partial
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
#: Logged by the triggerer when it starts running a trigger.
TRIGGER_STARTED = re.compile(r"trigger .* starting")
#: Logged by the worker for every interval a trigger hands back (``CanaryAnalysisOperator``).
WORKER_JUDGED = r"Interval (\d+) of \d+: score"
#: Logged by the trigger for every interval it judges (``CanaryIntervalTrigger``).
TRIGGER_JUDGED = r"Canary interval (\d+) of \d+: score"


@dataclass
class FaultSetup:
    airflow: AirflowComponents
    exporter: LiveCanaryExporter
    prometheus: PrometheusInstance
    outage_prometheus: PrometheusInstance


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultSetup]:
    with ExitStack() as stack:
        exporter = LiveCanaryExporter()
        stack.callback(exporter.stop)
        prometheus = stack.enter_context(
            running_prometheus(tmp_path_factory.mktemp("prometheus"), scrape_targets=[exporter.address])
        )
        outage = stack.enter_context(
            running_prometheus(
                tmp_path_factory.mktemp("prometheus-outage"), scrape_targets=[exporter.address]
            )
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
                partial(scrapes_every_case, server),
                timeout=60,
                message=f"Prometheus on {server.url} to scrape the live exporter",
            )
        yield FaultSetup(airflow, exporter, prometheus, outage)


# -- helpers ------------------------------------------------------------------------------------


def scrapes_every_case(server: PrometheusInstance) -> bool:
    series = server.instant('canary_cpu_seconds{version="canary"}')
    return {s["metric"]["case"] for s in series} == set(CASES)


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


def log_events(path: Path) -> list[dict[str, Any]]:
    """The JSON log lines of a task log file (worker attempt or trigger run)."""
    events = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def task_logs(airflow: AirflowComponents, dag_id: str, run_id: str) -> tuple[Path | None, list[Path]]:
    """The worker's attempt-1 log and the trigger logs (one file per triggerer job that ran a trigger).

    Airflow 3.3 rewrites a triggerer's file for every new trigger of the same task try, so each
    trigger file holds only the last trigger run that triggerer started for the task.
    """
    files = airflow.task_log_files(dag_id, run_id, TASK)
    worker = next((p for p in files if p.name == "attempt=1.log"), None)
    return worker, [p for p in files if ".log.trigger." in p.name]


def interval_trigger_started(airflow: AirflowComponents, dag_id: str, run_id: str, number: int) -> bool:
    """The trigger waiting for interval ``number`` (>= 2) runs in a triggerer.

    The worker logs "next: interval N" when it defers for interval N; the triggerer then logs
    "trigger ... starting" in the task's trigger log (trigger ids are reused, so the REST API's
    trigger id cannot tell the deferrals apart).
    """
    worker, triggers = task_logs(airflow, dag_id, run_id)
    if worker is None:
        return False
    handed_over = [
        e["timestamp"]
        for e in log_events(worker)
        if str(e.get("event", "")).endswith(f"next: interval {number}")
    ]
    if not handed_over:
        return False
    return any(
        TRIGGER_STARTED.fullmatch(str(e.get("event", ""))) and e["timestamp"] > handed_over[-1]
        for path in triggers
        for e in log_events(path)
    )


def wait_for_interval_wait(
    airflow: AirflowComponents, api: httpx.Client, dag_id: str, run_id: str, number: int
) -> dict[str, Any]:
    """Wait until the task is deferred and its trigger sleeps until interval ``number`` is due."""

    def sleeping() -> dict[str, Any] | None:
        airflow.raise_if_dead()
        ti = task_instance(api, dag_id, run_id)
        if ti["state"] in ("success", "failed", "up_for_retry"):
            return ti  # over too early: reported below (wait_until would retry an exception)
        started = ti["state"] == "deferred" and interval_trigger_started(airflow, dag_id, run_id, number)
        return ti if started else None

    ti = wait_until(sleeping, timeout=120, interval=0.25, message=f"{dag_id} to wait for interval {number}")
    assert ti is not None and ti["state"] == "deferred", (
        f"{dag_id} ended before interval {number}: task {ti and ti['state']}\n"
        + airflow.task_log_text(dag_id, run_id, TASK)[-4000:]
    )
    return ti


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


def numbers(events: list[dict[str, Any]], pattern: str) -> list[int]:
    """Interval numbers of the events matching ``pattern`` (its group 1), in log order."""
    return [int(m.group(1)) for e in events if (m := re.match(pattern, str(e.get("event", ""))))]


# -- tests --------------------------------------------------------------------------------------


def test_triggerer_killed_mid_analysis_resumes_without_losing_or_repeating_intervals(
    setup: FaultSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    airflow, run_id = setup.airflow, "triggerer-killed"
    with airflow.client() as api:
        start = start_run(airflow, api, RESTART_DAG, run_id)
        plan = AnalysisPlan(
            start=start, lifetime=INTERVAL * RESTART_INTERVALS, interval=INTERVAL, lookback=INTERVAL
        )
        # The last window's canary is regressed: only judging interval 4 on its own data fails it.
        setup.exporter.regress(RESTART_CASE, plan.window(RESTART_INTERVALS).start + (SETTLE * 2))

        wait_for_interval_wait(airflow, api, RESTART_DAG, run_id, number=2)
        assert due_in(plan, 2) > FAULT_MARGIN, "the machine is too slow: interval 2 was due before the kill"
        airflow.kill("triggerer")
        assert not airflow.alive("triggerer")
        assert task_instance(api, RESTART_DAG, run_id)["state"] == "deferred"
        airflow.start("triggerer")
        airflow.wait_started("triggerer")

        run = airflow.wait_for_run(api, RESTART_DAG, run_id, timeout=240)
        ti = task_instance(api, RESTART_DAG, run_id)
        result = canary_result(api, RESTART_DAG, run_id)
    worker_log, trigger_logs = task_logs(airflow, RESTART_DAG, run_id)
    assert worker_log is not None
    worker_events = log_events(worker_log)
    trigger_events = {path: log_events(path) for path in trigger_logs}
    everything = airflow.task_log_text(RESTART_DAG, run_id, TASK)[-6000:]

    # The verdict an undisturbed analysis gives: intervals 1-3 pass, the regressed interval 4 fails.
    assert run["state"] == "failed" and ti["state"] == "failed" and ti["try_number"] == 1, everything
    assert result["verdict"] == "Fail" and not result["stopped_early"], result["reasons"]
    assert [i["classification"] for i in result["intervals"]] == ["Pass", "Pass", "Pass", "Fail"], result[
        "reasons"
    ]
    # Nothing lost, nothing repeated: in the result ...
    assert result["intervals_judged"] == result["intervals_planned"] == RESTART_INTERVALS
    assert [i["interval"] for i in result["intervals"]] == [1, 2, 3, 4]
    # ... and in the logs: one trigger log per triggerer. The killed one's last trigger started and
    # judged nothing; the restarted one's ended the analysis; the worker got every other interval once.
    assert len(trigger_logs) == 2, [p.name for p in trigger_logs]
    (killed,) = [p for p, events in trigger_events.items() if not numbers(events, TRIGGER_JUDGED)]
    (restarted,) = [p for p in trigger_logs if p != killed]
    handed_over_2 = [
        e["timestamp"] for e in worker_events if str(e.get("event")).endswith("next: interval 2")
    ]
    killed_starts = [
        e["timestamp"] for e in trigger_events[killed] if TRIGGER_STARTED.fullmatch(str(e.get("event")))
    ]
    assert handed_over_2 and killed_starts and killed_starts[-1] > handed_over_2[-1], (
        "killed a different wait"
    )
    handed_to_worker = numbers(worker_events, WORKER_JUDGED)
    judged_last = numbers(trigger_events[restarted], TRIGGER_JUDGED)
    assert handed_to_worker + judged_last == [1, 2, 3, 4], (handed_to_worker, judged_last, everything)
    assert any(
        str(e.get("event")).startswith("Canary analysis finished: Fail") for e in trigger_events[restarted]
    )

    # Every recorded interval equals an undisturbed judgment of the same window.
    monkeypatch.setenv(f"AIRFLOW_CONN_{RESTART_CONN_ID.upper()}", setup.prometheus.connection_json())
    undisturbed = rejudge(result, RESTART_DAG, RESTART_CASE, RESTART_CONN_ID)
    for recorded, again in zip(result["intervals"], undisturbed, strict=True):
        assert json.loads(json.dumps(again)) == recorded, f"interval {recorded['interval']} differs"
    expected = analysis_result(
        undisturbed, AnalysisPlan.from_dict(result["plan"]), canary_config_name=RESTART_DAG
    )
    assert (result["verdict"], result["score"], result["reason"]) == (
        expected["verdict"],
        expected["score"],
        expected["reason"],
    )


def test_prometheus_down_mid_analysis_fails_safe_with_the_reason(setup: FaultSetup) -> None:
    airflow, run_id = setup.airflow, "prometheus-down"
    with airflow.client() as api:
        start = start_run(airflow, api, OUTAGE_DAG, run_id)
        plan = AnalysisPlan(
            start=start, lifetime=INTERVAL * OUTAGE_INTERVALS, interval=INTERVAL, lookback=INTERVAL
        )
        wait_for_interval_wait(airflow, api, OUTAGE_DAG, run_id, number=2)
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
