"""``CanaryAnalysisOperator`` without running a DAG: argument checks, planning, the deferral handshake.

Covered: static arguments refused in ``__init__`` with the value quoted; templated inputs (config,
scopes, start, connection) checked in ``execute()`` before any interval; the first deferral's trigger
(absolute plan, resolved config, scopes by name, ending in the triggerer outside ``dag.test()``);
Orca's retrospective mode from ``endTimeIso``; every branch of ``execute_complete`` that needs no
task instance (the failed-verdict branch is run for real in ``test_canary_stage.py``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_delivery.hooks.prometheus import PrometheusConnectionNotFoundError
from airflow_delivery.operators.canary import CanaryAnalysisOperator
from airflow_delivery.triggers.canary import CanaryIntervalTrigger
from tests.integration.canary.scenarios import INTERVAL, LIFETIME, T0, canary_config, scope

CONN_ID = "canary_operator_prom"


@pytest.fixture
def connection(monkeypatch: pytest.MonkeyPatch) -> str:
    # Only defined, never queried: execute() checks that it exists before deferring.
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps({"conn_type": "prometheus", "host": "http://127.0.0.1:9"}),
    )
    return CONN_ID


def operator(**overrides: Any) -> CanaryAnalysisOperator:
    arguments: dict[str, Any] = {
        "task_id": "canary",
        "canary_config": canary_config(),
        "scopes": scope("healthy"),
        "metrics_conn_id": CONN_ID,
        "analysis_start": T0.isoformat(),
        "lifetime": LIFETIME,
        "analysis_interval": INTERVAL,
    }
    arguments.update(overrides)
    return CanaryAnalysisOperator(**arguments)


def deferred_trigger(op: CanaryAnalysisOperator) -> CanaryIntervalTrigger:
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})  # type: ignore[arg-type]
    assert deferred.value.method_name == "execute_complete"
    trigger = deferred.value.trigger
    assert isinstance(trigger, CanaryIntervalTrigger)
    return trigger


# -- __init__ ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lifetime": 0}, "canary: lifetime must be more than zero, got 0"),
        ({"analysis_interval": -60}, "canary: analysis_interval must not be negative, got -60"),
        ({"lookback": "10m"}, "canary: lookback must be a timedelta or a number of seconds, got '10m'"),
        ({"score_thresholds": {"pass": 40, "marginal": 60}}, r"marginal \(60\) must not exceed"),
        ({"on_marginal": "retry"}, "canary: on_marginal 'retry' is not one of 'fail', 'continue', 'ask'"),
        ({"on_missing_data": "ignore"}, "canary: on_missing_data 'ignore' is not one of 'fail', 'judge'"),
        (
            {"metrics_source": "datadog"},
            "canary: metrics_source 'datadog' is not supported; valid: prometheus",
        ),
        (
            {"canary_config": 42},
            "canary: canary_config must be a dict, a path to a JSON file or a config name",
        ),
        ({"scopes": []}, r"canary: scopes must be a scope dict or a non-empty list of them, got \[\]"),
        ({"analysis_start": 1700000000}, "canary: analysis_start must be a datetime or an ISO-8601 string"),
        ({"seed": 1.5}, "canary: seed must be an integer, got 1.5"),
    ],
)
def test_static_arguments_are_checked_when_the_dag_is_parsed(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        operator(**overrides)


# -- execute -------------------------------------------------------------------------------------


def test_execute_plans_and_defers_the_first_interval(connection: str) -> None:
    trigger = deferred_trigger(operator(begin_after=timedelta(minutes=2), settle_delay=5, seed=3))
    kwargs = trigger.serialize()[1]
    assert kwargs["interval"] == 1 and kwargs["results"] == []
    assert kwargs["plan"] == {
        "start": T0.isoformat(),
        "lifetime_seconds": 1800.0,
        "interval_seconds": 600.0,
        "begin_after_seconds": 120.0,
        "lookback_seconds": 0.0,
        "baseline_offset_seconds": 0.0,
        "retrospective": False,
        "score_thresholds": {"pass": 75.0, "marginal": 50.0},
        "on_marginal": "fail",
        "on_missing_data": "fail",
        "seed": 3,
    }
    assert kwargs["canary_config"] == canary_config()
    assert kwargs["scopes"] == {"default": scope("healthy")}
    assert kwargs["settle_seconds"] == 5.0 and kwargs["min_deferral_seconds"] == 15.0
    assert kwargs["end_from_trigger"] is True  # outside dag.test() the last interval ends in the triggerer


def test_start_defaults_to_now(connection: str) -> None:
    before = datetime.now(UTC)
    plan = deferred_trigger(operator(analysis_start=None)).serialize()[1]["plan"]
    assert before <= datetime.fromisoformat(plan["start"]) <= datetime.now(UTC)


def test_retrospective_analysis_from_the_scope_times(connection: str) -> None:
    entry = {**scope("healthy"), "startTimeIso": "2025-02-01T00:00:00Z", "endTimeIso": "2025-02-01T00:20:00Z"}
    plan = deferred_trigger(operator(scopes=[entry], analysis_start=None, lifetime=None)).serialize()[1][
        "plan"
    ]
    assert plan["start"] == T0.isoformat() and plan["lifetime_seconds"] == 1200.0 and plan["retrospective"]


def test_packaged_golden_signal_config_by_name(connection: str) -> None:
    entry = {**scope("healthy"), "controlScope": 'version="baseline"', "experimentScope": 'version="canary"'}
    kwargs = deferred_trigger(operator(canary_config="latency", scopes=entry)).serialize()[1]
    assert kwargs["canary_config"]["name"] == "latency"
    assert [m["name"] for m in kwargs["canary_config"]["metrics"]] == ["latency_p99", "latency_p50"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"canary_config": "no-such-config"},
            "canary: canary_config: no canary config named 'no-such-config'",
        ),
        (
            {"canary_config": "/nowhere/c.json"},
            "canary: canary_config: canary config file /nowhere/c.json does not exist",
        ),
        ({"lifetime": None}, r"canary: lifetime is required \(or an endTimeIso in scopes\[default\]"),
        ({"analysis_start": "yesterday"}, "canary: analysis_start 'yesterday' is not an ISO-8601 time"),
        ({"scopes": [scope("a"), scope("b")]}, "canary: scopes: scopeName 'default' is given twice"),
        (
            {"scopes": {"scopeName": "eu"} | scope("a") | {"scopeName": "eu"}},
            "uses scopeName 'default', but scopes define only 'eu'",
        ),
        (
            {"scopes": {k: v for k, v in scope("a").items() if k != "controlScope"}},
            r"scopes\[default\].controlScope is required",
        ),
    ],
)
def test_templated_inputs_are_checked_before_the_first_interval(
    connection: str, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        operator(**overrides).execute({})  # type: ignore[arg-type]


def test_an_undefined_connection_is_refused_before_waiting(connection: str) -> None:
    with pytest.raises(
        PrometheusConnectionNotFoundError, match="set the environment variable AIRFLOW_CONN_NOBODY"
    ):
        operator(metrics_conn_id="nobody").execute({})  # type: ignore[arg-type]


def test_both_lifetime_and_end_time_is_ambiguous(connection: str) -> None:
    entry = {**scope("healthy"), "endTimeIso": "2025-02-01T00:20:00Z"}
    with pytest.raises(ValueError, match=r"give either lifetime \(0:30:00\) or scopes\[default\].endTimeIso"):
        operator(scopes=entry).execute({})  # type: ignore[arg-type]


def test_a_metric_of_another_backend_is_refused(connection: str) -> None:
    config = canary_config()
    config["metrics"][2]["query"]["type"] = "datadog"
    with pytest.raises(
        ValueError, match="metric 'memory_bytes': query.type is 'datadog' but this stage reads"
    ):
        operator(canary_config=config).execute({})  # type: ignore[arg-type]


def test_a_broken_query_template_is_refused_before_waiting(connection: str) -> None:
    config = canary_config()
    config["metrics"][0]["query"]["customInlineTemplate"] = 'pod="${pod}"'
    with pytest.raises(ValueError, match=r"placeholder '\$\{pod\}' is not defined"):
        operator(canary_config=config, begin_after=timedelta(hours=1)).execute({})  # type: ignore[arg-type]


# -- execute_complete ----------------------------------------------------------------------------


def test_progress_event_defers_the_next_interval(connection: str) -> None:
    first = deferred_trigger(operator()).serialize()[1]
    del first["end_from_trigger"]
    record = {
        "interval": 1,
        "intervals": 3,
        "score": 100.0,
        "classification": "Pass",
        "reasons": [],
        "warnings": [],
    }
    event = {
        "status": "running",
        "judged": [record],
        "next_interval": 2,
        "reason": "score 100 of interval 1 of 3 is above the marginal score threshold 50",
        "trigger": {**first, "interval": 2, "results": [record]},
    }
    with pytest.raises(TaskDeferred) as deferred:
        operator().execute_complete({}, event)  # type: ignore[arg-type]
    kwargs = deferred.value.trigger.serialize()[1]
    assert kwargs["interval"] == 2 and kwargs["results"] == [record] and kwargs["end_from_trigger"] is True


def test_error_event_fails_the_task_with_the_message() -> None:
    event = {"status": "error", "message": "canary interval 2 of 3 failed: KeyError: 'x'", "interval": 2}
    with pytest.raises(RuntimeError, match="canary: canary interval 2 of 3 failed: KeyError: 'x'"):
        operator().execute_complete({}, event)  # type: ignore[arg-type]


@pytest.mark.parametrize("event", [None, {}, {"status": "paused"}])
def test_unexpected_events_fail_the_task(event: dict[str, Any] | None) -> None:
    with pytest.raises(RuntimeError, match="canary"):
        operator().execute_complete({}, event)  # type: ignore[arg-type]


def test_success_event_is_the_result() -> None:
    event = {"status": "success", "verdict": "Pass", "reason": "ok", "intervals": []}
    assert operator().execute_complete({}, event) == event  # type: ignore[arg-type]
