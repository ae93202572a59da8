"""Building blocks shared by the pipeline spec and every stage type. Pure: no Airflow import.

Every model forbids unknown keys, because a misspelt option that is silently ignored is how
Spinnaker pipelines drift from what their authors meant.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]{0,99}$"
_DURATION_RE = re.compile(r"^\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$")


def check_regex(value: str) -> str:
    """A regex option: refused at parse time with the regex engine's own explanation."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regex {value!r}: {exc}") from None
    return value


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Europe/Paris'") from None
    return value


def parse_duration(value: str | int | float) -> timedelta:
    """Durations are written like ``90s``, ``5m``, ``1h30m`` or as plain seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '30s', '5m' or '1h30m'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    match = _DURATION_RE.match(value)
    if not value.strip() or not match or not any(match.groups()):
        raise ValueError(f"{value!r} is not a duration; write e.g. '30s', '5m' or '1h30m'")
    hours, minutes, seconds = match.groups()
    return timedelta(hours=int(hours or 0), minutes=int(minutes or 0), seconds=float(seconds or 0))


Duration = Annotated[str | int | float, Field(description="A duration: '30s', '5m', '1h30m' or seconds.")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlackTarget(Model):
    """Where Slack messages go: a Slack provider connection (token lives there, never here) and a channel."""

    type: Literal["slack"] = "slack"
    connection: str = Field("slack_api_default", description="Airflow connection id of type 'slack'.")
    channel: str = Field(..., min_length=1, description="Channel name such as '#deploys'.")
    when: list[Literal["starting", "complete", "failed", "judgment"]] = Field(
        default_factory=lambda: ["starting", "complete", "failed"],
        description="Which pipeline events are sent.",
    )


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


def clock(text: str) -> time:
    if not _HHMM.match(text):
        raise ValueError(f"{text!r} is not a time of day; write HH:MM, e.g. '09:30'")
    if text == "24:00":
        return time.max
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


class TimeRange(Model):
    start: str = Field(..., description="HH:MM, inclusive.")
    end: str = Field(..., description="HH:MM, exclusive; '24:00' is the end of the day.")

    @field_validator("start", "end")
    @classmethod
    def _check(cls, value: str) -> str:
        clock(value)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if clock(self.start) >= clock(self.end):
            raise ValueError(f"start {self.start} must be before end {self.end} (split ranges across midnight)")
        return self


class ExecutionWindow(Model):
    days: list[Day] = Field(default_factory=lambda: list(DAYS), min_length=1)
    hours: list[TimeRange] = Field(default_factory=lambda: [TimeRange(start="00:00", end="24:00")], min_length=1)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return check_timezone(value)




class StageNotification(Model):
    """Slack messages about one stage: when it starts, completes or fails."""

    type: Literal["slack"] = "slack"
    connection: str = Field("slack_api_default", description="Airflow connection id of type 'slack'.")
    channel: str = Field(..., min_length=1)
    when: list[Literal["starting", "complete", "failed"]] = Field(default_factory=lambda: ["failed"])


class StageBase(Model):
    """Options every stage has, whatever its type."""

    id: str = Field(..., pattern=ID_PATTERN, description="Unique stage id; becomes the Airflow task id.")
    name: str | None = Field(None, description="Human-readable name shown in notifications.")
    depends_on: list[str] = Field(default_factory=list, description="Ids of stages that must finish first.")
    timeout: Duration | None = Field(None, description="Fail the stage if it has not finished by then.")
    when: str | None = Field(
        None,
        description="Run the stage only if this expression is true, e.g. \"params.environment == 'production'\" "
        "or 'stages.canary.score >= 90'. Names: params, artifacts, stages, run. False skips the stage.",
    )
    on_failure: Literal["fail", "continue", "rollback"] = Field(
        "fail",
        description="fail: the pipeline fails; continue: later stages run anyway and this one stays marked "
        "failed; rollback: run the stages listed in 'rollback', then the pipeline fails.",
    )
    rollback: list[str] = Field(default_factory=list, description="Stages to run if this stage fails.")
    window: ExecutionWindow | None = Field(
        None, description="Start only inside this window (days, hours, time zone); wait, deferred, until it opens."
    )
    notifications: list[StageNotification] = Field(
        default_factory=list, description="Slack messages when this stage starts, completes or fails."
    )

    @model_validator(mode="after")
    def _check_rollback(self) -> StageBase:
        if self.on_failure == "rollback" and not self.rollback:
            raise ValueError("on_failure is 'rollback' but no 'rollback' stages are listed")
        if self.rollback and self.on_failure != "rollback":
            raise ValueError("'rollback' stages are listed but on_failure is not 'rollback'")
        if self.id in self.rollback:
            raise ValueError(f"stage {self.id!r} cannot roll back to itself")
        return self

    @field_validator("timeout")
    @classmethod
    def _check_timeout(cls, value: str | int | float | None) -> str | int | float | None:
        if value is not None:
            parse_duration(value)
        return value
