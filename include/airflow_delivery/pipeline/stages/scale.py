"""``scale``: set the replicas of a Deployment, StatefulSet or ReplicaSet, then wait until it is stable."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from airflow_delivery.pipeline.stages._manifest_stages import (
    TARGET_DESCRIPTION,
    KubernetesStage,
    Target,
    check_target,
    is_template,
    operator_args,
    stage_timeout,
    target_kind,
)

SCALABLE_KINDS = ("Deployment", "StatefulSet", "ReplicaSet")


class ScaleStage(KubernetesStage):
    """Spinnaker's "Scale (Manifest)", with a fixed or a dynamic target (e.g. the largest version)."""

    type: Literal["scale"]
    target: Target = Field(..., description=TARGET_DESCRIPTION + " Kinds: Deployment, StatefulSet, ReplicaSet.")
    replicas: int | str = Field(..., description="Wanted replicas (0 or more), or a template.")
    wait_for_stable: bool = Field(True, description="Wait until the workload is stable at its new size.")

    @field_validator("target")
    @classmethod
    def _check_target(cls, value: Target) -> Target:
        kind = target_kind(check_target(value))
        if kind is not None and kind not in SCALABLE_KINDS:
            raise ValueError(f"cannot scale a {kind}: scalable kinds are {', '.join(SCALABLE_KINDS)}")
        return value

    @field_validator("replicas")
    @classmethod
    def _check_replicas(cls, value: int | str) -> int | str:
        if isinstance(value, str) and not is_template(value):
            raise ValueError(f"{value!r} is not a number of replicas (or a template)")
        if isinstance(value, int) and value < 0:
            raise ValueError("replicas cannot be negative")
        return value


MODEL = ScaleStage


def build(stage: ScaleStage, common: dict[str, Any]) -> Any:
    from airflow_delivery.operators.scale import ScaleManifestOperator

    return ScaleManifestOperator(target=stage.target, replicas=stage.replicas, wait_for_stable=stage.wait_for_stable,
                                 timeout=stage_timeout(stage), **operator_args(stage), **common)
