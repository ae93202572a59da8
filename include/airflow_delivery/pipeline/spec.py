"""The pipeline spec: what a delivery pipeline YAML file may say, as pydantic models.

Pure: imports nothing from Airflow, so ``airflow-delivery validate`` and editors (through the JSON Schema)
check pipelines without an Airflow installation.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field, model_validator

from airflow_delivery.pipeline.model import ID_PATTERN, Model, SlackTarget, StageBase, parse_duration
from airflow_delivery.pipeline.params import ExpectedArtifact, Parameter
from airflow_delivery.pipeline.stages import PIPELINE_CHECKS, STAGE_MODELS
from airflow_delivery.pipeline.triggers_spec import Trigger

__all__ = ["PipelineSpec", "StageBase", "STAGE_TYPES", "json_schema", "parse_duration"]

STAGE_TYPES: dict[str, type[StageBase]] = dict(STAGE_MODELS)
Stage = Annotated[Union[tuple(STAGE_TYPES.values())], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007


class Concurrency(Model):
    """Spinnaker's limitConcurrent: by default one run at a time, newer runs queue behind it."""

    max_active_runs: int = Field(1, ge=1, le=100)


class PipelineSpec(Model):
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
    publish: bool = Field(
        False,
        description="Publish what a successful run deployed (asset 'delivery.pipeline.<name>'), so pipelines "
        "with a trigger {type: pipeline, pipeline: <this name>} run with the same artifacts.",
    )
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
    def _check_trigger_artifacts(self) -> PipelineSpec:
        names = [a.name for a in self.artifacts]
        for index, trigger in enumerate(self.triggers):
            if trigger.type != "registry":
                continue
            if trigger.artifact is None and len(names) != 1:
                raise ValueError(
                    f"triggers[{index}].artifact: name the expected artifact this registry trigger binds "
                    f"(the pipeline declares {len(names)}: {', '.join(names) or 'none; add one under artifacts'})"
                )
            if trigger.artifact is not None and trigger.artifact not in names:
                raise ValueError(
                    f"triggers[{index}].artifact: unknown artifact {trigger.artifact!r}; declared: "
                    f"{', '.join(names) or 'none'}"
                )
        return self

    @model_validator(mode="after")
    def _check_pipeline_triggers(self) -> PipelineSpec:
        from airflow_delivery.pipeline.publish import PUBLISH_TASK_ID

        upstreams: set[str] = set()
        for index, trigger in enumerate(self.triggers):
            if trigger.type != "pipeline":
                continue
            if trigger.pipeline == self.name:
                raise ValueError(
                    f"triggers[{index}].pipeline: a pipeline cannot trigger itself ({self.name!r}); "
                    "name the upstream pipeline whose successful runs should start this one"
                )
            if trigger.pipeline in upstreams:
                raise ValueError(f"triggers[{index}].pipeline: {trigger.pipeline!r} is listed twice")
            upstreams.add(trigger.pipeline)
        if self.publish:
            for index, stage in enumerate(self.stages):
                if stage.id == PUBLISH_TASK_ID:
                    raise ValueError(
                        f"stages[{index}].id: {PUBLISH_TASK_ID!r} is the task that publishes a run when "
                        "'publish' is true; rename this stage"
                    )
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
        graph = {stage.id: list(stage.depends_on) for stage in self.stages}
        _check_acyclic(graph)
        for index, stage in enumerate(self.stages):
            for target in stage.rollback:
                if target not in seen:
                    raise ValueError(
                        f"stages[{index}].rollback: unknown stage {target!r}; known stages: {', '.join(ids)}"
                    )
                if target in stage_ancestors(graph, stage.id):
                    raise ValueError(
                        f"stages[{index}].rollback: {target!r} runs before {stage.id!r}, so it cannot roll it back"
                    )
        self._check_conditions()
        for index, stage in enumerate(self.stages):
            if (check := PIPELINE_CHECKS.get(stage.type)) is not None:
                check(index, stage, self)
        return self

    def _check_conditions(self) -> None:
        from airflow_delivery.pipeline.conditions import ConditionError, check

        graph = {stage.id: list(stage.depends_on) for stage in self.stages}
        params = {p.name for p in self.parameters}
        artifacts = {a.name for a in self.artifacts}
        for index, stage in enumerate(self.stages):
            if stage.when is None:
                continue
            try:
                # Only results of stages that certainly ran before this one can be read.
                check(stage.when, params=params, artifacts=artifacts, stages=stage_ancestors(graph, stage.id))
            except ConditionError as exc:
                raise ValueError(f"stages[{index}].when: {exc}") from None


def stage_ancestors(graph: dict[str, list[str]], node: str) -> set[str]:
    found: set[str] = set()
    stack = list(graph[node])
    while stack:
        dep = stack.pop()
        if dep not in found:
            found.add(dep)
            stack.extend(graph[dep])
    return found


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
