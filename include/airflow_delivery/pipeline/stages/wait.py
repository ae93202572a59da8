"""``wait``: pause the pipeline for a duration, holding no worker slot."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from airflow_delivery.pipeline.model import Duration, StageBase, parse_duration


class WaitStage(StageBase):
    """Wait a fixed duration, deferred to the triggerer."""

    type: Literal["wait"]
    duration: Duration = Field(..., description="How long to wait: '30s', '5m', ...")

    @field_validator("duration")
    @classmethod
    def _check_duration(cls, value: str | int | float) -> str | int | float:
        parse_duration(value)
        return value


MODEL = WaitStage


def build(stage: WaitStage, common: dict[str, Any]) -> Any:
    from airflow_delivery.operators.wait import WaitOperator

    return WaitOperator(duration=parse_duration(stage.duration), **common)
