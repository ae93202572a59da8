"""``manual_judgment``: a person decides how the pipeline goes on (Spinnaker's manualJudgment).

Built on Airflow's human-in-the-loop operator: the stage waits (holding no worker slot) until an
assigned user answers in the Required Actions tab or the REST API. Each judgment input may branch to
stages or stop the pipeline; ``timeout`` is how long the judge has, and ``on_timeout`` the decision
taken then (``stop`` by default: the stage fails). Pure at import time.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_delivery.pipeline.model import ID_PATTERN, Model, StageBase, parse_duration
from airflow_delivery.pipeline.params import Parameter

STOP = "stop"


class JudgmentInput(Model):
    """One choice the judge can make."""

    value: str = Field(..., min_length=1, max_length=100, description="The choice as shown, e.g. 'promote'.")
    stages: list[str] | None = Field(
        None,
        description="Stages (depending on this one) to run when chosen; the stages only other inputs name are "
        "skipped. Omit to run every stage that follows.",
    )
    stop: bool = Field(False, description="Choosing this stops the pipeline (the stage fails).")

    @field_validator("stages")
    @classmethod
    def _check_stages(cls, value: list[str] | None) -> list[str] | None:
        import re

        for stage in value or ():
            if not re.match(ID_PATTERN, stage):
                raise ValueError(f"{stage!r} is not a stage id")
        if value is not None and len(set(value)) != len(value):
            raise ValueError(f"stages are listed twice: {value}")
        return value


class JudgmentNotification(Model):
    """Slack messages of this judgment: when it waits (with the link to answer) and when it is decided."""

    type: Literal["slack"] = "slack"
    connection: str = Field("slack_api_default", description="Airflow connection id of type 'slack'.")
    channel: str = Field(..., min_length=1)
    when: list[Literal["judgment", "decided"]] = Field(default_factory=lambda: ["judgment", "decided"])


class ManualJudgmentStage(StageBase):
    """Wait for a person's judgment; branch, continue or stop by what they choose."""

    type: Literal["manual_judgment"]
    subject: str | None = Field(
        None, description="Headline for the judge (templated); default: the stage name."
    )
    instructions: str | None = Field(
        None,
        description="What to check before deciding, Markdown, templated (params, artifacts, earlier XComs).",
    )
    inputs: list[JudgmentInput] = Field(
        default_factory=lambda: [JudgmentInput(value="Continue"), JudgmentInput(value="Stop", stop=True)],
        min_length=1,
        description="The choices; a plain string is an input that continues.",
    )
    form: list[Parameter] = Field(default_factory=list, description="Typed fields the judge fills in.")
    assigned_users: list[str] = Field(
        default_factory=list,
        description="User ids allowed to answer (others get 403); empty: anyone with access.",
    )
    on_timeout: str = Field(
        STOP, description="Decision when 'timeout' passes: 'stop' (the stage fails) or the value of an input."
    )
    notifications: list[JudgmentNotification] = Field(default_factory=list)

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs_from_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"value": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("assigned_users")
    @classmethod
    def _check_users(cls, value: list[str]) -> list[str]:
        if any(not user.strip() for user in value):
            raise ValueError("user ids cannot be empty")
        if len(set(value)) != len(value):
            raise ValueError(f"users are listed twice: {value}")
        return value

    @property
    def judgment_inputs(self) -> list[JudgmentInput]:
        return list(self.inputs)

    @model_validator(mode="after")
    def _check_judgment(self) -> ManualJudgmentStage:
        values = [i.value for i in self.judgment_inputs]
        for index, value in enumerate(values):
            if value in values[:index]:
                raise ValueError(f"inputs[{index}].value: {value!r} is given twice")
        for index, item in enumerate(self.judgment_inputs):
            if self.id in (item.stages or ()):
                raise ValueError(f"inputs[{index}].stages: a judgment cannot branch to itself ({self.id!r})")
            if item.stop and item.stages:
                raise ValueError(f"inputs[{index}]: an input that stops the pipeline cannot also run stages")
        if self.on_timeout != STOP and self.on_timeout not in values:
            raise ValueError(
                f"on_timeout: {self.on_timeout!r} must be 'stop' or one of the inputs: {', '.join(values)}"
            )
        if self.on_timeout != STOP and self.timeout is None:
            raise ValueError(
                f"on_timeout: {self.on_timeout!r} applies after 'timeout'; set timeout, e.g. '72h'"
            )
        names = [p.name for p in self.form]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise ValueError(f"form[{index}].name: {name!r} is given twice")
            if name.startswith("_"):
                raise ValueError(f"form[{index}].name: {name!r} cannot start with '_' (reserved by Airflow)")
        return self

    def branch_targets(self) -> set[str]:
        return {stage for item in self.judgment_inputs for stage in (item.stages or ())}


MODEL = ManualJudgmentStage


def check_in_pipeline(index: int, stage: ManualJudgmentStage, spec: Any) -> None:
    """Pipeline-level check (``spec`` is the ``PipelineSpec``): every branch target is a stage that
    depends directly on this judgment.

    A target further down (or elsewhere) would not be skipped by the branch, so the judgment would
    not decide it. Raises ``ValueError`` with the field path.
    """
    depends_on = {s.id: list(s.depends_on) for s in spec.stages}
    for i_index, item in enumerate(stage.judgment_inputs):
        for target in item.stages or ():
            if target not in depends_on:
                raise ValueError(
                    f"stages[{index}].inputs[{i_index}].stages: unknown stage {target!r}; known stages: "
                    f"{', '.join(depends_on)}"
                )
            if stage.id not in depends_on[target]:
                raise ValueError(
                    f"stages[{index}].inputs[{i_index}].stages: stage {target!r} must list {stage.id!r} in its "
                    "depends_on to be a branch of this judgment"
                )


WANTS_PIPELINE = True  # pipeline-level notifications with 'judgment' announce every judgment


def judgment_targets(stage: ManualJudgmentStage, pipeline: Any | None) -> list[dict[str, Any]]:
    """The stage's own Slack targets merged with the pipeline's targets whose ``when`` has ``judgment``.

    A pipeline target announces both the wait (with the Required Actions link) and the decision. A
    channel named by both is one target with the union of events, so nobody gets a message twice.
    """
    merged: dict[tuple[str, str], list[str]] = {}
    for own in stage.notifications:
        merged.setdefault((own.connection, own.channel), []).extend(own.when)
    for target in getattr(pipeline, "notifications", None) or ():
        if "judgment" in target.when:
            merged.setdefault((target.connection, target.channel), []).extend(["judgment", "decided"])
    return [
        {"type": "slack", "connection": connection, "channel": channel, "when": list(dict.fromkeys(when))}
        for (connection, channel), when in merged.items()
    ]


def build(stage: ManualJudgmentStage, common: dict[str, Any]) -> Any:
    from airflow.sdk import Param

    from airflow_delivery.operators.judgment import JudgmentOperator

    kwargs = dict(common)
    pipeline = kwargs.pop("pipeline", None)
    # For a judgment the stage timeout is the judge's time (Airflow's response_timeout), not a run time.
    kwargs.pop("execution_timeout", None)
    return JudgmentOperator(
        subject=stage.subject or f"Manual judgment: {stage.name or stage.id}",
        body=stage.instructions,
        inputs=[item.model_dump() for item in stage.judgment_inputs],
        params={p.name: Param(p.default, description=p.description, **p.json_schema()) for p in stage.form},
        assigned_users=list(stage.assigned_users),
        response_timeout=parse_duration(stage.timeout) if stage.timeout is not None else None,
        on_timeout=stage.on_timeout,
        slack=judgment_targets(stage, pipeline),
        **kwargs,
    )
