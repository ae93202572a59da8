"""The ``wait`` stage: pause a pipeline without holding a worker slot."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_delivery.triggers.wait import WaitUntilTrigger
from airflow_delivery.utils.deferral import ends_in_triggerer


class WaitOperator(BaseOperator):
    """Wait for ``duration`` (or until ``until``), deferred to the triggerer.

    The deadline is computed once, before deferring, and travels inside the trigger, so a triggerer
    or scheduler restart resumes the same wait instead of starting it again.
    """

    template_fields: Sequence[str] = ("until",)
    ui_color = "#f0eee4"

    def __init__(
        self,
        *,
        duration: timedelta | None = None,
        until: datetime | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (duration is None) == (until is None):
            raise ValueError(f"{self.task_id}: give exactly one of 'duration' or 'until'")
        if duration is not None and duration.total_seconds() < 0:
            raise ValueError(f"{self.task_id}: duration {duration} is negative")
        self.duration = duration
        self.until = until

    def _moment(self) -> datetime:
        if self.duration is not None:
            return datetime.now(timezone.utc) + self.duration
        until = self.until if isinstance(self.until, datetime) else datetime.fromisoformat(str(self.until))
        if until.tzinfo is None:
            raise ValueError(f"{self.task_id}: 'until' {self.until!r} has no time zone")
        return until

    def execute(self, context: Context) -> None:
        moment = self._moment()
        self.log.info("Waiting until %s", moment.isoformat())
        trigger = WaitUntilTrigger(moment=moment.isoformat(), end_from_trigger=ends_in_triggerer())
        self.defer(trigger=trigger, method_name="execute_complete")

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        if not event or event.get("status") != "success":
            raise RuntimeError(f"{self.task_id}: wait ended without a success event: {event!r}")
        self.log.info("Wait over (target %s, fired %s)", event["moment"], event["fired_at"])
        return {"waited_until": event["moment"]}


class ExecutionWindowOperator(BaseOperator):
    """Hold a stage until its execution window is open (Spinnaker's "wait for execution window").

    Open now: succeeds at once. Closed: defers until the window opens, holding no worker slot.
    """

    ui_color = "#e8e4f0"

    def __init__(self, *, window: dict[str, Any], stage_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from airflow_delivery.pipeline.windows import ExecutionWindow

        self.window = ExecutionWindow.model_validate(window).model_dump()
        self.stage_id = stage_id

    def execute(self, context: Context) -> dict[str, Any] | None:
        from airflow_delivery.pipeline.windows import ExecutionWindow, next_opening

        now = datetime.now(timezone.utc)
        opening = next_opening(ExecutionWindow.model_validate(self.window), now)
        if opening is None:
            self.log.info("Execution window of %s is open", self.stage_id)
            return {"status": "success", "opened_at": now.isoformat(), "waited": False}
        self.log.info("Execution window of %s is closed; waiting until %s", self.stage_id, opening.isoformat())
        trigger = WaitUntilTrigger(moment=opening.isoformat(), end_from_trigger=ends_in_triggerer())
        self.defer(trigger=trigger, method_name="execute_complete")
        return None

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        if not event or event.get("status") != "success":
            raise RuntimeError(f"{self.task_id}: window wait ended without a success event: {event!r}")
        return {"status": "success", "opened_at": event["moment"], "waited": True}
