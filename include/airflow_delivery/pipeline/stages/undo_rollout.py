"""``undo_rollout``: roll a Deployment back N revisions or to a revision number, then wait until stable."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_delivery.pipeline.stages._manifest_stages import (
    TARGET_DESCRIPTION,
    KubernetesStage,
    Target,
    check_target,
    operator_args,
    stage_timeout,
    target_kind,
)


class UndoRolloutStage(KubernetesStage):
    """Spinnaker's "Undo Rollout (Manifest)" / ``kubectl rollout undo``; default: one revision back."""

    type: Literal["undo_rollout"]
    target: Target = Field(..., description=TARGET_DESCRIPTION + " Kind: Deployment.")
    revisions_back: int | None = Field(None, ge=1, description="How many revisions before the current one.")
    revision: int | None = Field(None, ge=1, description="A revision number (kubectl --to-revision).")
    wait_for_stable: bool = Field(True, description="Wait until the Deployment is stable again.")

    @field_validator("target")
    @classmethod
    def _check_target(cls, value: Target) -> Target:
        kind = target_kind(check_target(value))
        if kind is not None and kind != "Deployment":
            raise ValueError(f"cannot undo the rollout of a {kind}: only Deployments keep a revision history here")
        return value

    @model_validator(mode="after")
    def _check_choice(self) -> UndoRolloutStage:
        if self.revisions_back is not None and self.revision is not None:
            raise ValueError("give revisions_back or revision, not both")
        return self


MODEL = UndoRolloutStage


def build(stage: UndoRolloutStage, common: dict[str, Any]) -> Any:
    from airflow_delivery.operators.undo import UndoRolloutOperator

    return UndoRolloutOperator(target=stage.target, revisions_back=stage.revisions_back, revision=stage.revision,
                               wait_for_stable=stage.wait_for_stable, timeout=stage_timeout(stage),
                               **operator_args(stage), **common)
