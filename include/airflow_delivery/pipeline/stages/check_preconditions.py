"""``check_preconditions``: stop (or flag) a pipeline when a run-time condition does not hold.

Spinnaker's ``checkPreconditions`` with its ``expression`` and ``stageStatus`` types. Expressions are
Jinja rendered by Airflow (its sandboxed environment) against params, artifacts and earlier stages'
XComs, and must render to exactly ``true`` or ``false``: anything else is an error, never a guess.
Pure at import time: Jinja is imported only to check expression syntax while validating.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_delivery.pipeline.model import ID_PATTERN, Model, StageBase

StageStatus = Literal["success", "failed", "skipped", "upstream_failed"]
# Stage states the check can only observe when it runs after a failed or skipped upstream.
_NON_SUCCESS: frozenset[str] = frozenset({"failed", "skipped", "upstream_failed"})


def template_of(expression: str) -> str:
    """A bare expression (``params.env == 'prod'``) becomes ``{{ (params.env == 'prod') }}``.

    Expressions already written as templates (with ``{{`` or ``{%``) are used as they are, so both
    Spinnaker-style bare expressions and Airflow-style templates read naturally.
    """
    if "{{" in expression or "{%" in expression:
        return expression
    return "{{ (" + expression + ") }}"


class Precondition(Model):
    """One check: an ``expression`` that must be true, or the ``stage_status`` of an earlier stage.

    One model with a ``type`` field rather than a union of two, so an error points at the field the
    author wrote (``preconditions[0].expression``) and not at a union branch.
    """

    type: Literal["expression", "stage_status"]
    expression: str | None = Field(
        None,
        min_length=1,
        description="(expression) Jinja expression or template rendering to exactly true/false, e.g. "
        "\"ti.xcom_pull(task_ids='canary')['score'] >= 90\".",
    )
    stage: str | None = Field(
        None, pattern=ID_PATTERN, description="(stage_status) Id of an earlier stage (an upstream of this one)."
    )
    status: StageStatus | list[StageStatus] = Field(
        "success", description="(stage_status) Accepted state or states of that stage."
    )
    fail_pipeline: bool = Field(True, description="False: record the failed check and let the pipeline go on.")
    message: str | None = Field(None, description="Said when the precondition does not hold.")

    @field_validator("expression")
    @classmethod
    def _check_syntax(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from jinja2 import TemplateSyntaxError
        from jinja2.sandbox import SandboxedEnvironment

        try:
            SandboxedEnvironment().parse(template_of(value))
        except TemplateSyntaxError as exc:
            raise ValueError(f"invalid Jinja expression {value!r}: {exc.message}") from None
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


def check_in_pipeline(index: int, stage: CheckPreconditionsStage, ancestors: dict[str, set[str]]) -> None:
    """Pipeline-level check: every ``stage_status`` names a stage that runs before this one.

    ``ancestors`` maps each stage id to every stage it (transitively) depends on. A stage that is not
    upstream may not have run yet when the check runs, so its status would be a race.
    """
    own = ancestors.get(stage.id, set())
    for p_index, precondition in enumerate(stage.preconditions):
        if precondition.type == "stage_status" and precondition.stage not in own:
            known = "unknown stage" if precondition.stage not in ancestors else "a stage that is not upstream"
            raise ValueError(
                f"stages[{index}].preconditions[{p_index}].stage: {precondition.stage!r} is {known}; "
                f"name a stage this one depends on (directly or through others): "
                f"{', '.join(sorted(own)) or 'none'}"
            )


def build(stage: CheckPreconditionsStage, common: dict[str, Any]) -> Any:
    from airflow_delivery.operators.preconditions import PreconditionsOperator

    preconditions: list[dict[str, Any]] = []
    for p in stage.preconditions:
        item: dict[str, Any] = {"type": p.type, "fail_pipeline": p.fail_pipeline, "message": p.message}
        if p.type == "expression":
            item["expression"] = template_of(p.expression or "")
        else:
            item.update(stage=p.stage, status=p.statuses)
        preconditions.append(item)
    kwargs = dict(common)
    if any(set(p.statuses) & _NON_SUCCESS for p in stage.preconditions if p.type == "stage_status"):
        # Checking that a stage failed or was skipped needs this stage to run after such an upstream.
        kwargs.setdefault("trigger_rule", "all_done")
    return PreconditionsOperator(preconditions=preconditions, **kwargs)
