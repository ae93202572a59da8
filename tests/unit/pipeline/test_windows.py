"""Execution windows: when a stage may start, and the window task placed before it."""

from __future__ import annotations

from datetime import datetime

import pytest

from airflow_delivery.pipeline.loader import PipelineFileError, parse_pipeline_text
from airflow_delivery.pipeline.windows import ExecutionWindow, next_opening

OFFICE = ExecutionWindow(
    days=["mon", "tue", "wed", "thu", "fri"], hours=[{"start": "09:00", "end": "12:00"},
                                                    {"start": "14:00", "end": "17:00"}],
    timezone="Europe/Paris",
)


@pytest.mark.parametrize(
    ("now", "opens"),
    [
        ("2026-11-23T10:00:00+00:00", None),                          # Monday 11:00 in Paris: open
        ("2026-11-23T11:30:00+00:00", "2026-11-23T14:00:00+01:00"),    # lunch break
        ("2026-11-23T16:00:00+00:00", "2026-11-24T09:00:00+01:00"),    # after hours
        ("2026-11-27T16:30:00+00:00", "2026-11-30T09:00:00+01:00"),    # Friday evening -> Monday
        ("2026-11-28T10:00:00+00:00", "2026-11-30T09:00:00+01:00"),    # Saturday
        ("2026-11-23T07:59:59+00:00", "2026-11-23T09:00:00+01:00"),    # just before opening
        ("2026-11-23T08:00:00+00:00", None),                           # opening instant is inside
    ],
)
def test_next_opening(now: str, opens: str | None) -> None:
    result = next_opening(OFFICE, datetime.fromisoformat(now))
    assert (result.isoformat() if result else None) == opens


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_opening(OFFICE, datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ("{days: [mon], hours: [{start: '9:00', end: '17:00'}]}", "is not a time of day"),
        ("{hours: [{start: '18:00', end: '09:00'}]}", "must be before end"),
        ("{days: [monday]}", "window.days"),
        ("{timezone: Moon/Base}", "unknown time zone"),
        ("{days: []}", "window.days"),
    ],
)
def test_window_mistakes(window: str, expected: str) -> None:
    with pytest.raises(PipelineFileError) as info:
        parse_pipeline_text(f"name: p\nstages:\n  - {{id: a, type: wait, duration: 1s, window: {window}}}\n", "p.yaml")
    assert any(expected in str(e) for e in info.value.errors), [str(e) for e in info.value.errors]


def test_a_window_task_stands_between_the_stage_and_its_dependencies() -> None:
    from airflow_delivery.operators.wait import ExecutionWindowOperator
    from airflow_delivery.pipeline.factory import build_dag

    dag = build_dag(parse_pipeline_text(
        "name: p\nstages:\n  - {id: a, type: wait, duration: 1s}\n"
        "  - {id: b, type: wait, duration: 1s, depends_on: [a], window: {days: [sat, sun]}}\n", "p.yaml"))
    window = dag.get_task("b__window")
    assert isinstance(window, ExecutionWindowOperator)
    assert window.upstream_task_ids == {"a"}
    assert dag.get_task("b").upstream_task_ids == {"b__window"}
