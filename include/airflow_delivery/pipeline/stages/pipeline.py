"""``pipeline``: start another pipeline with parameters and artifacts, optionally waiting for it.

Spinnaker's pipeline stage, on the standard provider's ``TriggerDagRunOperator``: the child run's
``conf`` is ``{<parameter>: value, ..., "artifacts": {<name>: <tag or digest>}}``, exactly what a
manual or API run of the child takes, so the child validates it the same way. Waiting is deferred
(no worker slot). The child's run id is derived from this run and stage, so a retry never starts
a second child run (it fails saying the run exists instead of deploying twice).
Pure at import time.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from airflow_delivery.pipeline.model import ID_PATTERN, Duration, StageBase, parse_duration
from airflow_delivery.pipeline.params import NAME_PATTERN


class PipelineStage(StageBase):
    """Start the pipeline ``pipeline_name``; with ``wait_for_completion`` succeed or fail with it."""

    type: Literal["pipeline"]
    # Not ``pipeline``: a field named like the stage type would hide error locations in the loader.
    pipeline_name: str = Field(
        ..., pattern=ID_PATTERN, description="Name of the pipeline to start (its DAG id)."
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Run parameters of that pipeline; strings are templated."
    )
    artifacts: dict[str, str] = Field(
        default_factory=dict,
        description="Artifacts for that run by name: tag or digest (templated), e.g. "
        "\"{{ params.artifacts['api'] }}\".",
    )
    wait_for_completion: bool = Field(
        True, description="Wait (deferred) for the run; false: succeed once started."
    )
    poll_interval: Duration = Field("10s", description="How often the state of the started run is checked.")
    fail_if_paused: bool = Field(
        True, description="Fail at once if that pipeline is paused (its run would not start)."
    )

    @field_validator("parameters", "artifacts")
    @classmethod
    def _check_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        import re

        for name, item in value.items():
            if name == "artifacts":
                raise ValueError("pass artifacts under 'artifacts', not as a parameter")
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"{name!r} is not a parameter or artifact name")
            if item is not None and not isinstance(item, str | int | float | bool):
                raise ValueError(f"{name!r}: a value must be a string, number or boolean, got {item!r}")
        return value

    @field_validator("poll_interval")
    @classmethod
    def _check_interval(cls, value: str | float) -> str | int | float:
        if parse_duration(value).total_seconds() < 1:
            raise ValueError("poll_interval must be at least 1s")
        return value


MODEL = PipelineStage


def check_in_pipeline(index: int, stage: PipelineStage, spec: Any) -> None:
    """Pipeline-level check (``spec`` is the ``PipelineSpec``): a pipeline does not start itself."""
    if stage.pipeline_name == spec.name:
        raise ValueError(
            f"stages[{index}].pipeline_name: pipeline {spec.name!r} cannot start itself (every run would start "
            "another, without end)"
        )


def child_run_id(stage_id: str) -> str:
    """Template of the child's run id: parent pipeline, stage and run, so each is started once."""
    return "{{ dag.dag_id }}." + stage_id + ".{{ run_id }}"


def build(stage: PipelineStage, common: dict[str, Any]) -> Any:
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    conf: dict[str, Any] = dict(stage.parameters)
    if stage.artifacts:
        conf["artifacts"] = dict(stage.artifacts)
    return TriggerDagRunOperator(
        trigger_dag_id=stage.pipeline_name,
        trigger_run_id=child_run_id(stage.id),
        conf=conf,
        logical_date=None,
        wait_for_completion=stage.wait_for_completion,
        deferrable=stage.wait_for_completion,
        poke_interval=max(1, int(parse_duration(stage.poll_interval).total_seconds())),
        allowed_states=["success"],
        failed_states=["failed"],
        fail_when_dag_is_paused=stage.fail_if_paused,
        openlineage_inject_parent_info=False,
        **common,
    )
