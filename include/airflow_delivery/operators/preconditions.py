"""The ``check_preconditions`` stage: gate a pipeline on conditions known only at run time.

An expression is either a condition in the language of a stage's ``when`` (evaluated here over
``params``, ``artifacts``, ``stages`` and ``run``, in a sandbox) or an Airflow template rendered by
Airflow before ``execute`` (``preconditions`` is a template field; Airflow's Jinja is sandboxed).
The task's XCom is the verdict of every precondition, also when it fails, so the run record says
which check stopped the pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

PRECONDITION_TYPES = ("expression", "stage_status")


class PreconditionResult(TypedDict):
    index: int
    type: Literal["expression", "stage_status"]
    passed: bool
    fail_pipeline: bool
    detail: str


class PreconditionsResult(TypedDict):
    passed: bool
    preconditions: list[PreconditionResult]


def rendered_truth(text: Any) -> bool | None:
    """``True``/``False`` for exactly ``true``/``false`` (any case, surrounding blanks), else ``None``."""
    if isinstance(text, bool):
        return text
    word = str(text).strip().lower()
    return {"true": True, "false": False}.get(word)


class PreconditionsOperator(BaseOperator):
    """Check preconditions; fail (no retry) if one marked ``fail_pipeline`` does not hold.

    :param preconditions: a list of dicts, each ``{"type": "expression", "expression": "...",
        "template": bool}`` (``template``: rendered by Airflow, else a ``when``-style condition) or
        ``{"type": "stage_status", "stage": "<task id>", "status": ["success", ...]}``, with optional
        ``fail_pipeline`` (default true) and ``message``. A false precondition without
        ``fail_pipeline`` is recorded in the XCom and logged as a warning; the stage succeeds.
    """

    template_fields: Sequence[str] = ("preconditions",)
    template_fields_renderers = {"preconditions": "json"}
    ui_color = "#e8f0fe"

    def __init__(self, *, preconditions: Sequence[Mapping[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not preconditions:
            raise ValueError(f"{self.task_id}: give at least one precondition")
        for index, precondition in enumerate(preconditions):
            kind = precondition.get("type")
            if kind not in PRECONDITION_TYPES:
                raise ValueError(
                    f"{self.task_id}: preconditions[{index}].type {kind!r} is not one of {', '.join(PRECONDITION_TYPES)}"
                )
            required = ("expression",) if kind == "expression" else ("stage", "status")
            missing = [key for key in required if not precondition.get(key)]
            if missing:
                raise ValueError(
                    f"{self.task_id}: preconditions[{index}] ({kind}) needs {', '.join(missing)}"
                )
        self.preconditions = [dict(p) for p in preconditions]

    def execute(self, context: Context) -> PreconditionsResult:
        results = [self._evaluate(index, p, context) for index, p in enumerate(self.preconditions)]
        verdict: PreconditionsResult = {"passed": all(r["passed"] for r in results), "preconditions": results}
        for result in results:
            if result["passed"]:
                self.log.info("Precondition %d holds: %s", result["index"], result["detail"])
            elif result["fail_pipeline"]:
                self.log.error("Precondition %d does not hold: %s", result["index"], result["detail"])
            else:
                self.log.warning(
                    "Precondition %d does not hold (fail_pipeline is false, going on): %s",
                    result["index"],
                    result["detail"],
                )
        blocking = [r for r in results if not r["passed"] and r["fail_pipeline"]]
        if blocking:
            # Published before failing, so later reporting (and the run record) shows why.
            context["ti"].xcom_push(key="return_value", value=verdict)
            reasons = "; ".join(f"preconditions[{r['index']}]: {r['detail']}" for r in blocking)
            raise AirflowFailException(f"{self.task_id}: {reasons}")
        return verdict

    def _evaluate(self, index: int, precondition: Mapping[str, Any], context: Context) -> PreconditionResult:
        fail_pipeline = bool(precondition.get("fail_pipeline", True))
        message = precondition.get("message")
        if precondition["type"] == "expression":
            passed = self._expression_truth(index, precondition, context)
            detail = f"expression is {str(passed).lower()}"
        else:
            stage = str(precondition["stage"])
            wanted = precondition["status"]
            wanted = [wanted] if isinstance(wanted, str) else list(wanted)
            actual = self._stage_state(stage, context)
            passed = actual in wanted
            detail = f"stage {stage!r} is {actual or 'not run'}; wanted {' or '.join(wanted)}"
        if not passed and message:
            detail = f"{message} ({detail})"
        return {
            "index": index,
            "type": precondition["type"],
            "passed": passed,
            "fail_pipeline": fail_pipeline,
            "detail": detail,
        }

    def _expression_truth(self, index: int, precondition: Mapping[str, Any], context: Context) -> bool:
        expression = precondition["expression"]
        if precondition.get("template", True):
            truth = rendered_truth(expression)
            if truth is None:
                # Not a verdict: a typo must not silently pass or silently block a release.
                raise AirflowFailException(
                    f"{self.task_id}: preconditions[{index}].expression rendered to {str(expression)[:200]!r}; "
                    "it must render to exactly true or false (compare values, e.g. '... >= 90')"
                )
            return truth
        from airflow_delivery.pipeline.conditions import ConditionError, evaluate
        from airflow_delivery.pipeline.runtime import condition_namespace

        upstream = set(self.get_flat_relative_ids(upstream=True))
        try:
            return evaluate(str(expression), condition_namespace(context, upstream))
        except ConditionError as exc:
            raise AirflowFailException(f"{self.task_id}: preconditions[{index}].expression: {exc}") from None

    def _stage_state(self, stage: str, context: Context) -> str | None:
        ti = context["ti"]
        states = ti.get_task_states(dag_id=ti.dag_id, task_ids=[stage], run_ids=[ti.run_id])
        state = (states.get(ti.run_id) or {}).get(stage)
        return None if state is None else str(state)
