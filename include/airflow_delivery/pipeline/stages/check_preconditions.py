"""``check_preconditions``: stop (or flag) a pipeline when a run-time condition does not hold.

Spinnaker's ``checkPreconditions`` with its ``expression`` and ``stageStatus`` types. An expression
is a condition in the same language as a stage's ``when`` (``params``, ``artifacts``, ``stages``,
``run``; checked when the file is read), or an Airflow template (``{{ ... }}``, rendered by Airflow's
sandboxed Jinja, e.g. with ``ti.xcom_pull``). Either must give exactly true or false: anything else
is an error, never a guess. Pure at import time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_delivery.pipeline.model import ID_PATTERN, Model, StageBase

StageStatus = Literal["success", "failed", "skipped", "upstream_failed"]


def is_template(expression: str) -> bool:
    """An Airflow template (rendered by Airflow) rather than a condition (evaluated by the stage)."""
    return "{{" in expression or "{%" in expression


@lru_cache(maxsize=1)
def _jinja() -> Any:
    """One sandboxed environment for syntax checks (creating one per expression is slow)."""
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment()


class Precondition(Model):
    """One check: an ``expression`` that must be true, or the ``stage_status`` of an earlier stage.

    One model with a ``type`` field rather than a union of two, so an error points at the field the
    author wrote (``preconditions[0].expression``) and not at a union branch.
    """

    type: Literal["expression", "stage_status"]
    expression: str | None = Field(
        None,
        min_length=1,
        description="(expression) A condition like a stage's 'when', e.g. 'stages.canary.score >= 90', or an "
        "Airflow template rendering to exactly true/false, e.g. \"{{ ti.xcom_pull(task_ids='x') == 'ok' }}\".",
    )
    stage: str | None = Field(
        None,
        pattern=ID_PATTERN,
        description="(stage_status) Id of an earlier stage (an upstream of this one).",
    )
    status: StageStatus | list[StageStatus] = Field(
        "success", description="(stage_status) Accepted state or states of that stage."
    )
    fail_pipeline: bool = Field(
        True, description="False: record the failed check and let the pipeline go on."
    )
    message: str | None = Field(None, description="Said when the precondition does not hold.")

    @field_validator("expression")
    @classmethod
    def _check_syntax(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not is_template(value):
            from airflow_delivery.pipeline.conditions import references

            references(value)  # syntax, and only known root names; ConditionError is a ValueError
            return value
        from jinja2 import TemplateSyntaxError

        try:
            _jinja().parse(value)
        except TemplateSyntaxError as exc:
            raise ValueError(f"invalid template {value!r}: {exc.message}") from None
        return value

    @model_validator(mode="after")
    def _check_fields_of_type(self) -> Precondition:
        if self.type == "expression":
            if self.expression is None:
                raise ValueError("an 'expression' precondition needs 'expression'")
            if self.stage is not None:
                raise ValueError("'stage' belongs to 'stage_status' preconditions, not 'expression'")
        else:
            if self.stage is None:
                raise ValueError("a 'stage_status' precondition needs 'stage' (the id of an earlier stage)")
            if self.expression is not None:
                raise ValueError("'expression' belongs to 'expression' preconditions, not 'stage_status'")
        return self

    @property
    def statuses(self) -> list[str]:
        return [self.status] if isinstance(self.status, str) else list(self.status)


class CheckPreconditionsStage(StageBase):
    """Evaluate preconditions at run time; a failing one with ``fail_pipeline`` fails the stage."""

    type: Literal["check_preconditions"]
    preconditions: list[Precondition] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _check_not_self(self) -> CheckPreconditionsStage:
        for index, precondition in enumerate(self.preconditions):
            if precondition.type == "stage_status" and precondition.stage == self.id:
                raise ValueError(
                    f"preconditions[{index}].stage: a stage cannot check its own status; "
                    "name an earlier stage"
                )
        return self


MODEL = CheckPreconditionsStage


def _ancestors(stage_id: str, depends_on: Mapping[str, Sequence[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(depends_on.get(stage_id, ()))
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(depends_on.get(current, ()))
    return seen


def check_in_pipeline(index: int, stage: CheckPreconditionsStage, spec: Any) -> None:
    """Pipeline-level checks (``spec`` is the ``PipelineSpec``), raising ``ValueError`` with the field path.

    * ``stage_status`` names a stage upstream of this one (directly or through others): any other
      stage may not have run yet when the check runs, so its status would be a race;
    * a condition names only parameters, artifacts and upstream stages the pipeline defines.
    """
    from airflow_delivery.pipeline.conditions import ConditionError, check

    depends_on = {s.id: list(s.depends_on) for s in spec.stages}
    upstream = _ancestors(stage.id, depends_on)
    for p_index, precondition in enumerate(stage.preconditions):
        where = f"stages[{index}].preconditions[{p_index}]"
        if precondition.type == "stage_status" and precondition.stage not in upstream:
            known = (
                "an unknown stage" if precondition.stage not in depends_on else "not upstream of this stage"
            )
            raise ValueError(
                f"{where}.stage: {precondition.stage!r} is {known}; name a stage this one depends on "
                f"(directly or through others): {', '.join(sorted(upstream)) or 'none'}"
            )
        if precondition.type == "expression" and not is_template(precondition.expression or ""):
            try:
                check(
                    precondition.expression or "",
                    params={p.name for p in spec.parameters},
                    artifacts={a.name for a in spec.artifacts},
                    stages=upstream,
                )
            except ConditionError as exc:
                raise ValueError(f"{where}.expression: {exc}") from None


def build(stage: CheckPreconditionsStage, common: dict[str, Any]) -> Any:
    from airflow_delivery.operators.preconditions import PreconditionsOperator

    preconditions: list[dict[str, Any]] = []
    for p in stage.preconditions:
        item: dict[str, Any] = {"type": p.type, "fail_pipeline": p.fail_pipeline, "message": p.message}
        if p.type == "expression":
            item.update(expression=p.expression, template=is_template(p.expression or ""))
        else:
            item.update(stage=p.stage, status=p.statuses)
        preconditions.append(item)
    return PreconditionsOperator(preconditions=preconditions, **common)
