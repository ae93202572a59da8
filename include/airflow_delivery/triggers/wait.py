"""A trigger that fires at an absolute moment, to the millisecond.

Airflow's ``DateTimeTrigger`` checks the clock once a second, which made waits fire seconds late when
hundreds were parked together; delivery pipelines park many waits at once, so this one sleeps exactly
until its moment. The moment is absolute and serialised, so a triggerer restart never restarts the wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any, Literal, TypedDict

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_delivery.utils.deferral import final_event


class WaitEvent(TypedDict):
    status: Literal["success"]
    moment: str
    fired_at: str


class WaitUntilTrigger(BaseTrigger):
    def __init__(self, moment: str, end_from_trigger: bool = False) -> None:
        super().__init__()
        parsed = datetime.fromisoformat(moment)
        if parsed.tzinfo is None:
            raise ValueError(f"moment {moment!r} has no time zone; pass an aware ISO-8601 timestamp")
        self.moment = moment
        self.end_from_trigger = end_from_trigger
        self._moment = parsed

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"moment": self.moment, "end_from_trigger": self.end_from_trigger},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while (remaining := (self._moment - datetime.now(timezone.utc)).total_seconds()) > 0:
            # Re-check the wall clock after sleeping in case it jumped while we slept.
            await asyncio.sleep(remaining)
        event: WaitEvent = {
            "status": "success",
            "moment": self.moment,
            "fired_at": datetime.now(timezone.utc).isoformat(),
        }
        self.log.info("Wait until %s over", self.moment)
        yield final_event(end_from_trigger=self.end_from_trigger, succeeded=True, result=dict(event))
