"""The pipeline spec: what a delivery pipeline YAML file may say, as pydantic models.

Pure: imports nothing from Airflow, so ``airflow-delivery validate`` and editors (through the JSON Schema)
check pipelines without an Airflow installation. Every model forbids unknown keys, because a misspelt
option that is silently ignored is how Spinnaker pipelines drift from what their authors meant.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from airflow_delivery.pipeline.params import ExpectedArtifact, Parameter
from airflow_delivery.pipeline.triggers_spec import Trigger

ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]{0,99}$"
_DURATION_RE = re.compile(r"^\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$")


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


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlackTarget(_Model):
    """Where Slack messages go: a Slack provider connection (token lives there, never here) and a channel."""

    type: Literal["slack"] = "slack"
    connection: str = Field("slack_api_default", description="Airflow connection id of type 'slack'.")
    channel: str = Field(..., min_length=1, description="Channel name such as '#deploys'.")
    when: list[Literal["starting", "complete", "failed", "judgment"]] = Field(
        default_factory=lambda: ["starting", "complete", "failed"],
        description="Which pipeline events are sent.",
    )


class StageBase(_Model):
    """Options every stage has, whatever its type."""

    id: str = Field(..., pattern=ID_PATTERN, description="Unique stage id; becomes the Airflow task id.")
    name: str | None = Field(None, description="Human-readable name shown in notifications.")
    depends_on: list[str] = Field(default_factory=list, description="Ids of stages that must finish first.")
    timeout: Duration | None = Field(None, description="Fail the stage if it has not finished by then.")

    @field_validator("timeout")
    @classmethod
    def _check_timeout(cls, value: str | int | float | None) -> str | int | float | None:
        if value is not None:
            parse_duration(value)
        return value


class WaitStage(StageBase):
    """Wait a fixed duration, holding no worker slot (the wait is deferred to the triggerer)."""

    type: Literal["wait"]
    duration: Duration = Field(..., description="How long to wait: '30s', '5m', ...")

    @field_validator("duration")
    @classmethod
    def _check_duration(cls, value: str | int | float) -> str | int | float:
        parse_duration(value)
        return value


Stage = Annotated[WaitStage, Field(discriminator="type")]

STAGE_TYPES: dict[str, type[StageBase]] = {"wait": WaitStage}


class Concurrency(_Model):
    """Spinnaker's limitConcurrent: by default one run at a time, newer runs queue behind it."""

    max_active_runs: int = Field(1, ge=1, le=100)


class PipelineSpec(_Model):
    """One delivery pipeline: a DAG whose tasks are its stages."""

    name: str = Field(..., pattern=ID_PATTERN, description="Pipeline name; becomes the DAG id.")
    description: str | None = None
    owners: list[str] = Field(default_factory=lambda: ["delivery"])
    tags: list[str] = Field(default_factory=list)
    triggers: list[Trigger] = Field(default_factory=list)
    parameters: list[Parameter] = Field(default_factory=list)
    artifacts: list[ExpectedArtifact] = Field(default_factory=list)
    concurrency: Concurrency = Field(default_factory=Concurrency)
    notifications: list[SlackTarget] = Field(default_factory=list)
    stages: list[Stage] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _check_names(self) -> PipelineSpec:
        for field, items in (("parameters", self.parameters), ("artifacts", self.artifacts)):
            seen: set[str] = set()
            for index, item in enumerate(items):
                if item.name in seen:
                    raise ValueError(f"{field}[{index}].name: duplicate name {item.name!r}")
                seen.add(item.name)
        return self

    @model_validator(mode="after")
    def _check_graph(self) -> PipelineSpec:
        ids = [stage.id for stage in self.stages]
        seen: set[str] = set()
        for index, stage_id in enumerate(ids):
            if stage_id in seen:
                raise ValueError(f"stages[{index}].id: duplicate stage id {stage_id!r}")
            seen.add(stage_id)
        for index, stage in enumerate(self.stages):
            for dep in stage.depends_on:
                if dep not in seen:
                    raise ValueError(
                        f"stages[{index}].depends_on: unknown stage {dep!r}; known stages: {', '.join(ids)}"
                    )
        _check_acyclic({stage.id: list(stage.depends_on) for stage in self.stages})
        return self


def _check_acyclic(graph: dict[str, list[str]]) -> None:
    """Depth-first search; the error shows the cycle so the author sees which edge to drop."""
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in graph[node]:
            if state.get(dep) == 1:
                cycle = path[path.index(dep) :] + [dep] if dep in path else [node, dep]
                raise ValueError(f"stages: depends_on forms a cycle: {' -> '.join(cycle)}")
            if dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of a pipeline file, for editors."""
    schema = PipelineSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Airflow Delivery pipeline"
    return schema
