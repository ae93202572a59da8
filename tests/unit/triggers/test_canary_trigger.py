"""``CanaryIntervalTrigger`` against a real Prometheus with backfilled canary scenarios.

Covered: the exact serialised kwargs; refused kwargs; one interval per deferral (progress event with
the next trigger's kwargs and the records so far); the resumed trigger judging only its own interval;
determinism of a re-run (what a triggerer restart does); batching of intervals already due; early
failure; ending in the triggerer with the result as XCom (success and failure); Prometheus down ->
fail safe with the reason; sleeping until the window's end; exceptions -> error event; cancellation
propagates.
"""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent, TriggerEvent

from airflow_delivery.canary.analysis import AnalysisPlan, Thresholds
from airflow_delivery.triggers.canary import CanaryIntervalTrigger
from tests.fixtures.prometheus import prometheus_connection, prometheus_factory  # noqa: F401 - fixtures
from tests.integration.canary.scenarios import INTERVAL, LIFETIME, T0, canary_config, dataset, scope
from tests.support import free_port

CLASSPATH = "airflow_delivery.triggers.canary.CanaryIntervalTrigger"
CONN_ID = "canary_trigger_prom"


def plan(**overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"start": T0, "lifetime": LIFETIME, "interval": INTERVAL}
    options.update(overrides)
    return AnalysisPlan(**options).to_dict()


def trigger(case: str = "healthy", **overrides: Any) -> CanaryIntervalTrigger:
    kwargs: dict[str, Any] = {
        "plan": plan(),
        "canary_config": canary_config(),
        "scopes": {"default": scope(case)},
        "interval": 1,
        "metrics_conn_id": CONN_ID,
        "min_deferral_seconds": 0.0,
    }
    kwargs.update(overrides)
    return CanaryIntervalTrigger(**kwargs)


def first_event(t: CanaryIntervalTrigger, timeout: float = 60) -> TriggerEvent:
    async def go() -> TriggerEvent:
        return await asyncio.wait_for(t.run().asend(None), timeout=timeout)

    return asyncio.run(go())


@pytest.fixture(scope="module")
def prometheus(prometheus_factory):  # noqa: F811 - the imported fixture
    return prometheus_factory(backfill_series=dataset())


@pytest.fixture
def prom(prometheus, prometheus_connection):  # noqa: F811
    prometheus_connection(CONN_ID, prometheus.url)
    return prometheus


# -- no Prometheus needed ----------------------------------------------------------------------


def test_serialize_returns_every_kwarg() -> None:
    t = trigger(settle_seconds=2.5, end_from_trigger=True)
    assert t.serialize() == (
        CLASSPATH,
        {
            "plan": plan(),
            "canary_config": canary_config(),
            "scopes": {"default": scope("healthy")},
            "interval": 1,
            "results": [],
            "metrics_source": "prometheus",
            "metrics_conn_id": CONN_ID,
            "settle_seconds": 2.5,
            "min_deferral_seconds": 0.0,
            "end_from_trigger": True,
        },
    )
    # What the triggerer does after a restart: rebuild the trigger from the stored kwargs.
    stored = json.loads(json.dumps(t.serialize()[1]))
    assert CanaryIntervalTrigger(**stored).serialize() == t.serialize()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"interval": 4}, r"interval 4 is outside 1\.\.3"),
        ({"interval": 2}, r"results must hold intervals 1\.\.1 in order before judging interval 2, got \[\]"),
        ({"metrics_source": "datadog"}, "metrics_source 'datadog' is not supported; valid: prometheus"),
        ({"settle_seconds": -1}, "must not be negative"),
    ],
)
def test_invalid_kwargs_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        trigger(**overrides)


@pytest.mark.parametrize("end_from_trigger", [False, True])
def test_exception_becomes_an_error_event(end_from_trigger: bool) -> None:
    config = canary_config()
    config["metrics"][0]["scopeName"] = "eu-west"
    event = first_event(trigger(canary_config=config, end_from_trigger=end_from_trigger))
    if end_from_trigger:  # the task fails from the triggerer, the message in its XCom
        assert isinstance(event, TaskFailedEvent)
        payload = event.xcoms["return_value"]  # type: ignore[index]
    else:  # dag.test(): execute_complete raises with the message
        assert type(event) is TriggerEvent
        payload = event.payload
    assert payload["status"] == "error" and payload["interval"] == 1
    assert "canary interval 1 of 3 failed: KeyError" in payload["message"]
    assert "uses scope 'eu-west', but only default are defined" in payload["message"]


def test_cancellation_is_not_swallowed() -> None:
    async def go() -> None:
        t = trigger(plan=plan(start=datetime.now(UTC)))  # first window ends in 10 minutes
        task = asyncio.create_task(t.run().asend(None))
        for _ in range(5):
            await asyncio.sleep(0)  # let it reach its sleep
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())


# -- against the backfilled Prometheus -----------------------------------------------------------


@pytest.mark.integration
def test_one_interval_per_deferral_carries_the_records_forward(prom) -> None:
    event = first_event(trigger())
    assert type(event) is TriggerEvent
    payload = event.payload
    assert payload["status"] == "running" and payload["next_interval"] == 2
    assert [(j["interval"], j["score"], j["classification"]) for j in payload["judged"]] == [
        (1, 100.0, "Pass")
    ]
    assert payload["reason"] == "score 100 of interval 1 of 3 is above the marginal score threshold 50"
    nxt = payload["trigger"]
    assert nxt["interval"] == 2 and "end_from_trigger" not in nxt
    (record,) = nxt["results"]
    assert record["window"]["experiment"] == {"start": T0.isoformat(), "end": (T0 + INTERVAL).isoformat()}
    judge_result = record["judge_result"]
    assert judge_result["judgeName"] == "NetflixACAJudge-v1.0"
    assert [r["name"] for r in judge_result["results"]] == ["latency_seconds", "cpu_seconds", "memory_bytes"]
    assert judge_result["results"][0]["controlMetadata"]["stats"]["count"] == 11  # a 10-minute window at 60 s
    assert record["warnings"]  # fewer than 50 points, as Orca warns
    json.dumps(payload, allow_nan=False)  # the payload is stored as JSON


@pytest.mark.integration
def test_resumed_trigger_judges_only_its_interval_and_ends_the_task(prom) -> None:
    second = first_event(trigger()).payload["trigger"]
    third = first_event(CanaryIntervalTrigger(**second)).payload["trigger"]
    assert [r["interval"] for r in third["results"]] == [1, 2]
    event = first_event(CanaryIntervalTrigger(**third, end_from_trigger=True))
    assert isinstance(event, TaskSuccessEvent)
    result = event.xcoms["return_value"]  # type: ignore[index]
    assert result["verdict"] == "Pass" and result["succeeded"] and result["score"] == 100
    assert [i["interval"] for i in result["intervals"]] == [1, 2, 3]
    assert result["intervals"][:2] == third["results"]  # earlier records carried unchanged
    assert result["intervals"][2]["window"]["experiment"]["end"] == (T0 + LIFETIME).isoformat()


@pytest.mark.integration
def test_a_rerun_gives_the_same_record(prom) -> None:
    # A triggerer restart runs the trigger again from the same kwargs: same window, same seed.
    t = trigger(case="marginal")
    first, again = first_event(t), first_event(CanaryIntervalTrigger(**copy.deepcopy(t.serialize()[1])))
    assert first.payload["trigger"]["results"] == again.payload["trigger"]["results"]


@pytest.mark.integration
def test_intervals_already_due_are_judged_in_one_run(prom) -> None:
    event = first_event(trigger(min_deferral_seconds=600.0))
    assert type(event) is TriggerEvent  # dag.test() style: a plain event with the result
    result = event.payload
    assert result["status"] == "success" and [i["interval"] for i in result["intervals"]] == [1, 2, 3]


@pytest.mark.integration
def test_regression_fails_early_and_ends_the_task_as_failed(prom) -> None:
    event = first_event(trigger(case="regressed", end_from_trigger=True))
    assert isinstance(event, TaskFailedEvent)
    result = event.xcoms["return_value"]  # type: ignore[index]
    assert result["verdict"] == "Fail" and result["stopped_early"] and result["intervals_judged"] == 1
    assert (
        result["reason"] == "canary score 0 of interval 1 of 3 is not above the marginal score threshold 50"
    )
    assert {r["classification"] for r in result["intervals"][0]["judge_result"]["results"]} == {"High"}


@pytest.mark.integration
def test_sliding_window_catches_a_late_regression(prom) -> None:
    t = trigger(case="late", plan=plan(lookback=INTERVAL), min_deferral_seconds=600.0)
    result = first_event(t).payload
    assert [(i["interval"], i["classification"]) for i in result["intervals"]] == [(1, "Pass"), (2, "Fail")]
    assert result["verdict"] == "Fail" and result["stopped_early"]


@pytest.mark.integration
def test_missing_series_fails_safe_with_the_reason(prom) -> None:
    result = first_event(trigger(case="missing", min_deferral_seconds=600.0)).payload
    assert result["verdict"] == "Fail" and result["intervals_judged"] == 1
    interval = result["intervals"][0]
    assert interval["classification"] == "Nodata"
    assert interval["data_problems"][0]["metric"] == "memory_bytes"
    assert "failed safe: no data for metric 'memory_bytes': " in result["reason"]


@pytest.mark.integration
def test_prometheus_down_fails_safe_and_says_why(prometheus_connection) -> None:  # noqa: F811
    prometheus_connection(CONN_ID, f"http://127.0.0.1:{free_port()}")
    event = first_event(trigger(end_from_trigger=True))
    assert isinstance(event, TaskFailedEvent)
    result = event.xcoms["return_value"]  # type: ignore[index]
    interval = result["intervals"][0]
    assert (interval["classification"], interval["score"]) == ("Nodata", 0.0)
    assert {p["status"] for p in interval["data_problems"]} == {"error"}
    assert result["verdict"] == "Fail" and result["reason"].startswith("interval 1 of 3 failed safe: ")
    assert "could not be fetched from Prometheus" in result["reason"]
    assert CONN_ID in result["reason"] or "127.0.0.1" in result["reason"]


@pytest.mark.integration
def test_waits_for_the_window_to_end(prom) -> None:
    # A window ending 1 s from now (no samples there): the trigger must not query before it ends.
    now = datetime.now(UTC)
    t = trigger(
        plan=AnalysisPlan(
            start=now - timedelta(seconds=119), lifetime=timedelta(minutes=2), thresholds=Thresholds()
        ).to_dict(),
        settle_seconds=0.5,
    )
    event = first_event(t)
    assert datetime.now(UTC) >= now + timedelta(seconds=1.5)
    assert event.payload["status"] == "failed"  # nothing was scraped at "now": fail safe
    assert event.payload["intervals"][0]["classification"] == "Nodata"
