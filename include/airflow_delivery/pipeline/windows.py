"""Execution windows: when a stage may start (days of the week, hours of the day, in a time zone).

Pure. A stage with a window is preceded by a ``<stage>__window`` task that waits, deferred, until
the window is open, like Spinnaker's "restrict execution to time window" synthetic stage.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from airflow_delivery.pipeline.model import DAYS, ExecutionWindow, TimeRange, clock

__all__ = ["DAYS", "ExecutionWindow", "TimeRange", "next_opening"]

def next_opening(window: ExecutionWindow, now: datetime) -> datetime | None:
    """None if the window is open at ``now`` (aware); otherwise the aware moment it next opens."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    zone = ZoneInfo(window.timezone)
    local = now.astimezone(zone)
    ranges = sorted((clock(r.start), clock(r.end)) for r in window.hours)
    for offset in range(8):
        day = (local + timedelta(days=offset)).date()
        if DAYS[day.weekday()] not in window.days:
            continue
        for start, end in ranges:
            opening = datetime.combine(day, start, tzinfo=zone)
            closing = datetime.combine(day, end, tzinfo=zone)
            if offset == 0 and opening <= local < closing:
                return None
            if opening > local:
                return opening
    raise AssertionError("a window with at least one day and range opens within a week")  # pragma: no cover
