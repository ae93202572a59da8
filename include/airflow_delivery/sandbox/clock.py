"""The time seam: controllers and the store ask a ``Clock``, so tests can control time if they need to."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """Wall-clock time for timestamps, monotonic time for durations."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


def rfc3339(moment: datetime) -> str:
    """Kubernetes' timestamp format: seconds precision, ``Z`` suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    """Parse a Kubernetes timestamp (``...Z`` or with an offset, optional fractional seconds)."""
    return datetime.fromisoformat(text)
