"""How a pipeline starts on its own: registry tags, git commits, schedules, other pipelines.

Manual and API runs always work, whatever triggers a pipeline declares. Polling triggers need no
inbound webhook, so they work for clusters and laptops the internet cannot reach.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from airflow_delivery.pipeline.model import Model, check_regex, check_timezone


class RegistryTrigger(Model):
    """A new tag of an image repository starts a run with that tag bound to ``artifact``."""

    type: Literal["registry"]
    connection: str = Field("registry_default", description="Airflow connection of type container_registry.")
    repository: str = Field(..., min_length=1, description="Repository on the registry, e.g. 'team/api'.")
    tag: str = Field(".+", description="Regex a tag must match entirely; 'latest' is always ignored.")
    order: Literal["semver", "push_time"] = "semver"
    artifact: str | None = Field(None, description="Expected artifact the tag binds to (default: the only one).")
    poll_interval: float = Field(30.0, gt=0, le=3600)

    @field_validator("tag")
    @classmethod
    def _check_tag(cls, value: str) -> str:
        return check_regex(value)


class GitTrigger(Model):
    """A new commit on a branch of a git remote starts a run (polled, no webhook)."""

    type: Literal["git"]
    remote: str = Field(..., min_length=1, description="URL or path of the git remote.")
    branch: str = Field("main", min_length=1)
    poll_interval: float = Field(60.0, gt=0, le=86400)


class ScheduleTrigger(Model):
    """Cron schedule in a time zone (e.g. nightly rollouts); missed runs are not caught up."""

    type: Literal["schedule"]
    cron: str = Field(..., description="Five-field cron expression, e.g. '0 2 * * 1-5'.")
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        from croniter import croniter

        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a valid five-field cron expression (minute hour day month weekday)")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return check_timezone(value)


class PipelineTrigger(Model):
    """Runs when another pipeline publishes what it deployed (promote what passed staging)."""

    type: Literal["pipeline"]
    pipeline: str = Field(..., min_length=1, description="Name of the upstream pipeline.")


Trigger = Annotated[
    RegistryTrigger | GitTrigger | ScheduleTrigger | PipelineTrigger, Field(discriminator="type")
]
TRIGGER_TYPES = ("registry", "git", "schedule", "pipeline")
