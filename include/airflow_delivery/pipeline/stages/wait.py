"""``wait``: pause the pipeline for a duration, holding no worker slot.

A person can end a wait early: "Mark as success" on the waiting (deferred) task in the Airflow UI, or
``PATCH /api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{stage id}`` with ``{"new_state": "success"}``,
cancels its trigger and the next stages start at once (tested on a real standalone in
tests/integration/promotion).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from airflow_delivery.pipeline.model import Duration, StageBase, parse_duration


class WaitStage(StageBase):
    """Wait a fixed duration, deferred to the triggerer; a person can end it early with "Mark as
    success" on the task (UI or REST API)."""

    type: Literal["wait"]
    duration: Duration = Field(
        ...,
        description="How long to wait: '30s', '5m', ... To end the wait early, mark the waiting task "
        "as success in the Airflow UI (or set new_state 'success' on it through the REST API); the next "
        "stages then start.",
    )

    @field_validator("duration")
    @classmethod
    def _check_duration(cls, value: str | int | float) -> str | int | float:
        parse_duration(value)
        return value


MODEL = WaitStage


def build(stage: WaitStage, common: dict[str, Any]) -> Any:
    from airflow_delivery.operators.wait import WaitOperator

    return WaitOperator(duration=parse_duration(stage.duration), **common)
