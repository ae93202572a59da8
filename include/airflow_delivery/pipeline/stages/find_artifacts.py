"""``find_artifacts``: read a live workload's images, ConfigMaps and Secrets (names) for later stages."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from airflow_delivery.pipeline.stages._manifest_stages import (
    TARGET_DESCRIPTION,
    KubernetesStage,
    Target,
    check_target,
    operator_args,
)


class FindArtifactsStage(KubernetesStage):
    """Spinnaker's "Find Artifacts From Resource": e.g. production's image, for a canary's baseline."""

    type: Literal["find_artifacts"]
    target: Target = Field(..., description=TARGET_DESCRIPTION)

    _target = field_validator("target")(check_target)


MODEL = FindArtifactsStage


def build(stage: FindArtifactsStage, common: dict[str, Any]) -> Any:
    from airflow_delivery.operators.find_artifacts import FindArtifactsFromResourceOperator

    return FindArtifactsFromResourceOperator(target=stage.target, **operator_args(stage), **common)
