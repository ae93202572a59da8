"""The canary stage's schedule and decisions (``airflow_delivery.canary.analysis``).

Covered: Orca's window arithmetic (growing, sliding, warm-up, retrospective, baseline offset,
interval = lifetime rules, remainder unused), option validation with messages, fail-fast at or
below marginal, the final pass rule, ``on_marginal`` fail/continue/ask, fail-safe labelling of
missing data (backend errors, Nodata metrics, muted metrics, ``on_missing_data="judge"``), the
low-data warning, JSON round trips, and the result shape.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from airflow_delivery.canary.analysis import (
    LOW_DATA_WARNING,
    AnalysisConfigError,
    AnalysisPlan,
    DataProblem,
    IntervalOutcome,
    Thresholds,
    analysis_result,
    assess_interval,
    decide,
    interval_label,
    next_interval,
    parse_time,
    to_duration,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def plan(**overrides) -> AnalysisPlan:
    options = {"start": T0, "lifetime": 60 * MIN, "interval": 15 * MIN}
    options.update(overrides)
    return AnalysisPlan(**options)


def spans(p: AnalysisPlan) -> list[tuple[float, float]]:
    """Windows as minutes after T0, easier to read than datetimes."""
    return [((w.start - T0) / MIN, (w.end - T0) / MIN) for w in p.windows()]


# -- windows ----------------------------------------------------------------------------------


def test_growing_windows_start_at_the_analysis_start() -> None:
    assert spans(plan()) == [(0, 15), (0, 30), (0, 45), (0, 60)]


def test_sliding_windows_with_lookback() -> None:
    assert spans(plan(lookback=10 * MIN)) == [(5, 15), (20, 30), (35, 45), (50, 60)]


def test_warm_up_delays_every_window_in_real_time() -> None:
    p = plan(begin_after=5 * MIN)
    assert spans(p) == [(5, 20), (5, 35), (5, 50), (5, 65)]
    assert p.due(1) == T0 + 20 * MIN


def test_retrospective_windows_ignore_the_warm_up_but_still_wait_for_it() -> None:
    p = plan(begin_after=30 * MIN, retrospective=True)
    assert spans(p) == [(0, 15), (0, 30), (0, 45), (0, 60)]
    assert p.due(1) == T0 + 30 * MIN  # Orca's "Warmup Wait" runs even for retrospective analyses
    assert p.due(2) == T0 + 30 * MIN
    assert p.due(3) == T0 + 45 * MIN


def test_settle_delay_moves_the_due_time_not_the_window() -> None:
    p = plan()
    assert p.due(1, timedelta(seconds=20)) == T0 + 15 * MIN + timedelta(seconds=20)
    assert p.window(1).end == T0 + 15 * MIN


def test_baseline_offset_shifts_only_the_control_window() -> None:
    w = plan(baseline_offset=60 * MIN).window(2)
    assert (w.start, w.end) == (T0, T0 + 30 * MIN)
    assert (w.control_start, w.control_end) == (T0 - 60 * MIN, T0 - 30 * MIN)


@pytest.mark.parametrize(
    ("interval", "count"),
    [(timedelta(0), 1), (90 * MIN, 1), (60 * MIN, 1), (25 * MIN, 2), (7 * MIN, 8)],
)
def test_interval_count_follows_orca(interval: timedelta, count: int) -> None:
    p = plan(interval=interval)
    assert p.count == count
    # Orca: zero or longer than the lifetime means one interval of the whole lifetime.
    if interval == timedelta(0) or interval > p.lifetime:
        assert spans(p) == [(0, 60)]


def test_remainder_of_the_lifetime_is_not_analysed() -> None:
    assert spans(plan(interval=25 * MIN)) == [(0, 25), (0, 50)]


def test_window_outside_the_plan_is_refused() -> None:
    with pytest.raises(AnalysisConfigError, match=r"interval 5 is outside 1\.\.4"):
        plan().window(5)


def test_plan_round_trips_through_json() -> None:
    p = plan(
        begin_after=2 * MIN,
        lookback=10 * MIN,
        baseline_offset=timedelta(seconds=90),
        thresholds=Thresholds(80, 60),
        on_marginal="ask",
        on_missing_data="judge",
        seed=7,
        retrospective=True,
    )
    assert AnalysisPlan.from_dict(json.loads(json.dumps(p.to_dict()))) == p


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lifetime": timedelta(0)}, "lifetime must be more than zero"),
        ({"interval": -MIN}, "interval must not be negative"),
        ({"lookback": -MIN}, "lookback must not be negative"),
        ({"start": datetime(2025, 1, 1)}, "timezone-aware"),
        ({"on_marginal": "maybe"}, "on_marginal 'maybe' is not one of 'fail', 'continue', 'ask'"),
        ({"on_missing_data": "pass"}, "on_missing_data 'pass' is not one of 'fail', 'judge'"),
        ({"seed": "1"}, "seed must be an integer"),
    ],
)
def test_invalid_plans_are_refused_with_the_value(overrides: dict, message: str) -> None:
    with pytest.raises(AnalysisConfigError, match=message):
        plan(**overrides)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"pass": 50, "marginal": 60}, r"marginal \(60\) must not exceed score_thresholds.pass \(50\)"),
        ({"pass": 120}, "score_thresholds.pass must be a number from 0 to 100, got 120"),
        ({"pass": "high"}, "score_thresholds.pass 'high' is not a number"),
        ({"passing": 80}, r"unknown keys \['passing'\]"),
        ([75, 50], "must be a mapping"),
    ],
)
def test_invalid_thresholds(raw: object, message: str) -> None:
    with pytest.raises(AnalysisConfigError, match=message):
        Thresholds.from_dict(raw)  # type: ignore[arg-type]


def test_thresholds_default_and_accept_strings_as_deck_saves_them() -> None:
    assert Thresholds.from_dict(None) == Thresholds(75, 50)
    assert Thresholds.from_dict({"pass": "80", "marginal": "60.5"}) == Thresholds(80, 60.5)


def test_durations() -> None:
    assert to_duration(90, "x") == timedelta(seconds=90)
    assert to_duration(None, "x") == timedelta(0)
    with pytest.raises(AnalysisConfigError, match="x must not be negative, got -1"):
        to_duration(-1, "x")
    with pytest.raises(AnalysisConfigError, match="x must be more than zero"):
        to_duration(0, "x", allow_zero=False)
    with pytest.raises(AnalysisConfigError, match="x must be a timedelta or a number of seconds, got '5m'"):
        to_duration("5m", "x")  # type: ignore[arg-type]
    with pytest.raises(AnalysisConfigError, match="finite"):
        to_duration(float("inf"), "x")


def test_times() -> None:
    assert parse_time("2025-03-01T12:00:00Z", "start") == T0
    with pytest.raises(AnalysisConfigError, match="has no time zone"):
        parse_time("2025-03-01T12:00:00", "start")
    with pytest.raises(AnalysisConfigError, match="'soon' is not an ISO-8601 time"):
        parse_time("soon", "start")


# -- decisions --------------------------------------------------------------------------------


def outcomes(*scores: float, label: str | None = None) -> list[IntervalOutcome]:
    t = Thresholds()
    return [
        IntervalOutcome(i, s, label if (label and i == len(scores)) else interval_label(s, t))  # type: ignore[arg-type]
        for i, s in enumerate(scores, start=1)
    ]


def test_interval_label_uses_orcas_boundary() -> None:
    t = Thresholds(75, 50)
    assert [interval_label(s, t) for s in (100, 75, 74.99, 50.01, 50, 0)] == [
        "Pass",
        "Pass",
        "Marginal",
        "Marginal",
        "Fail",  # the judge says Marginal at exactly 50; Orca fails the stage
        "Fail",
    ]


def test_nothing_judged_yet() -> None:
    v = decide([], plan())
    assert not v.finished and v.verdict is None and next_interval([], plan()) == 1


def test_intermediate_scores_above_marginal_keep_going() -> None:
    p = plan()  # 4 intervals
    v = decide(outcomes(100, 60), p)
    assert (
        not v.finished and v.reason == "score 60 of interval 2 of 4 is above the marginal score threshold 50"
    )
    assert next_interval(outcomes(100, 60), p) == 3


@pytest.mark.parametrize("score", [50, 10, 0])
def test_score_at_or_below_marginal_fails_early(score: float) -> None:
    v = decide(outcomes(100, score), plan())
    assert v.finished and v.verdict == "Fail" and not v.succeeded and v.stopped_early
    assert (
        v.reason == f"canary score {score:g} of interval 2 of 4 is not above the marginal score threshold 50"
    )
    assert next_interval(outcomes(100, score), plan()) is None


def test_final_pass() -> None:
    v = decide(outcomes(60, 70, 80, 75), plan())
    assert (v.finished, v.verdict, v.succeeded, v.needs_judgment, v.stopped_early) == (
        True,
        "Pass",
        True,
        False,
        False,
    )
    assert v.score == 75 and "met or exceeded the pass score threshold 75" in v.reason


def test_only_the_last_interval_decides() -> None:
    assert decide(outcomes(100, 100, 100, 70), plan()).verdict == "Marginal"
    assert decide(outcomes(55, 55, 55, 90), plan()).verdict == "Pass"


@pytest.mark.parametrize(
    ("on_marginal", "succeeded", "needs_judgment", "tail"),
    [
        ("fail", False, False, "failing (on_marginal='fail')"),
        ("continue", True, False, "continuing as asked"),
        ("ask", True, True, "a person has to judge it"),
    ],
)
def test_final_marginal_per_on_marginal(
    on_marginal: str, succeeded: bool, needs_judgment: bool, tail: str
) -> None:
    v = decide(outcomes(100, 100, 100, 70), plan(on_marginal=on_marginal))
    assert v.finished and v.verdict == "Marginal"
    assert (v.succeeded, v.needs_judgment) == (succeeded, needs_judgment)
    assert v.reason.startswith(
        "final canary score 70 is between the marginal (50) and pass (75) score thresholds"
    )
    assert v.reason.endswith(tail)


@pytest.mark.parametrize("on_marginal", ["continue", "ask"])
def test_on_marginal_never_rescues_a_score_at_or_below_marginal(on_marginal: str) -> None:
    v = decide(outcomes(100, 100, 100, 50), plan(on_marginal=on_marginal))
    assert v.verdict == "Fail" and not v.succeeded and not v.needs_judgment


@pytest.mark.parametrize("label", ["Nodata", "Error"])
def test_missing_data_fails_safe_even_with_a_high_score(label: str) -> None:
    records = outcomes(100, 100, label=label)
    records[-1] = IntervalOutcome(2, 100, label, ("metrics could not be fetched: down",))  # type: ignore[arg-type]
    v = decide(records, plan(on_marginal="continue"))
    assert v.finished and v.verdict == "Fail" and not v.succeeded and v.stopped_early
    assert v.reason == "interval 2 of 4 failed safe: metrics could not be fetched: down"


# -- assessing one judged interval -----------------------------------------------------------


def judge_result(score: float, *results: dict, reason: str = "") -> dict:
    return {
        "judgeName": "NetflixACAJudge-v1.0",
        "results": list(results),
        "score": {"score": score, "classification": "x", "classificationReason": reason},
    }


def metric(
    name: str, classification: str = "Pass", *, muted: bool = False, count: int = 60, reason: str = ""
) -> dict:
    return {
        "name": name,
        "classification": classification,
        "classificationReason": reason,
        "muted": muted,
        "controlMetadata": {"stats": {"count": count}},
        "experimentMetadata": {"stats": {"count": count}},
    }


def test_scored_interval() -> None:
    a = assess_interval(judge_result(100, metric("latency")), [], plan())
    assert (a.label, a.score, a.reasons, a.warnings) == ("Pass", 100, (), ())


def test_backend_error_is_nodata_with_the_reason() -> None:
    problem = DataProblem(
        "latency", "error", "metric 'latency' could not be fetched from Prometheus: refused"
    )
    a = assess_interval(
        judge_result(0, metric("latency", "Nodata")), [problem], plan(on_missing_data="judge")
    )
    assert a.label == "Nodata" and a.score == 0
    assert a.reasons == (
        "metrics could not be fetched: latency: metric 'latency' could not be fetched from Prometheus: refused",
    )


def test_all_fetches_failed_is_never_a_pass_even_if_the_judge_says_100() -> None:
    # Kayenta ignores Error metrics and counts a group without data as 100.
    problem = DataProblem("latency", "error", "Prometheus down")
    a = assess_interval(
        judge_result(100, metric("latency", "Error")), [problem], plan(on_missing_data="judge")
    )
    assert (a.label, a.score) == ("Nodata", 0.0)
    assert decide([IntervalOutcome(1, a.score, a.label, a.reasons)], plan()).verdict == "Fail"


def test_a_metric_without_data_fails_safe_although_kayenta_would_pass() -> None:
    # Kayenta: one Nodata metric of three is ignored and its group counts as 100.
    result = judge_result(100, metric("latency"), metric("cpu"), metric("memory", "Nodata"))
    problem = DataProblem("memory", "nodata", "experiment scope 'canary' returned no samples")
    a = assess_interval(result, [problem], plan())
    assert (a.label, a.score) == ("Nodata", 0.0)
    assert a.reasons == ("no data for metric 'memory': experiment scope 'canary' returned no samples",)


def test_on_missing_data_judge_leaves_it_to_kayentas_rules_but_keeps_the_reason() -> None:
    result = judge_result(100, metric("latency"), metric("cpu"), metric("memory", "Nodata"))
    problem = DataProblem("memory", "nodata", "no samples")
    a = assess_interval(result, [problem], plan(on_missing_data="judge"))
    assert a.label == "Pass"
    assert a.reasons == ("(ignored by on_missing_data='judge') memory: no samples",)


def test_nodata_fail_metric_and_judge_errors_fail_safe() -> None:
    a = assess_interval(
        judge_result(0, metric("latency", "NodataFailMetric", reason="mustHaveData")), [], plan()
    )
    assert a.label == "Nodata" and a.reasons == ("no data for metric 'latency': mustHaveData",)
    b = assess_interval(judge_result(100, metric("latency", "Error", reason="all tied")), [], plan())
    assert (b.label, b.score) == ("Error", 0.0)
    assert b.reasons == ("metric 'latency' could not be judged: all tied",)


def test_muted_metrics_without_data_do_not_fail_the_interval() -> None:
    a = assess_interval(
        judge_result(100, metric("latency"), metric("debug", "Nodata", muted=True)), [], plan()
    )
    assert a.label == "Pass"


def test_judge_reason_and_low_data_warning_are_kept() -> None:
    a = assess_interval(
        judge_result(0, metric("latency", "High", count=11), reason="Canary Failed: latency high"), [], plan()
    )
    assert a.label == "Fail"
    assert a.reasons == ("Canary Failed: latency high",)
    assert a.warnings == (LOW_DATA_WARNING,)


def test_non_numeric_score_counts_as_zero() -> None:
    assert assess_interval(judge_result("NaN", metric("x")), [], plan(on_missing_data="judge")).score == 0  # type: ignore[arg-type]


# -- the stage's result ------------------------------------------------------------------------


def record(number: int, score: float, label: str, reasons: list[str] | None = None) -> dict:
    return {
        "interval": number,
        "intervals": 4,
        "score": score,
        "classification": label,
        "reasons": reasons or [],
        "judge_result": {"score": {"score": score}},
    }


def test_analysis_result_keeps_every_interval_and_the_verdict() -> None:
    p = plan()
    records = [record(1, 100, "Pass"), record(2, 40, "Fail", ["Canary Failed: latency high"])]
    result = analysis_result(records, p, canary_config_name="latency")
    assert result["status"] == "failed" and result["verdict"] == "Fail" and not result["succeeded"]
    assert result["stopped_early"] and result["intervals_judged"] == 2 and result["intervals_planned"] == 4
    assert result["score"] == 40 and result["canary_config"] == "latency"
    assert result["intervals"] == records
    assert result["reasons"] == [
        "canary score 40 of interval 2 of 4 is not above the marginal score threshold 50",
        "interval 2: Canary Failed: latency high",
    ]
    assert result["plan"] == p.to_dict() and result["score_thresholds"] == {"pass": 75, "marginal": 50}
    json.dumps(result, allow_nan=False)  # XCom-safe


def test_analysis_result_needs_judgment() -> None:
    records = [record(i, 70, "Marginal") for i in range(1, 5)]
    result = analysis_result(records, plan(on_marginal="ask"))
    assert result["status"] == "success" and result["verdict"] == "Marginal" and result["needs_judgment"]
