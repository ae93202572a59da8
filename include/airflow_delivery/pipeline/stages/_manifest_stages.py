"""What the manifest stages (patch, scale, delete, undo_rollout, find_artifacts, run_job, script) share.

``account`` is the Kubernetes connection id (a Spinnaker account), ``namespace`` the default namespace
of targets that name none, and ``target`` one object, written ``"deployment web"`` or as a mapping
(``{kind, name}`` or a dynamic ``{kind, cluster, criteria}``), checked when the pipeline is parsed
unless it is a template. Pure at import time, like every stage module.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field

from airflow_delivery.kubernetes.targets import ManifestTarget
from airflow_delivery.pipeline.model import StageBase, parse_duration

DEFAULT_ACCOUNT = "kubernetes_default"

Target = str | dict[str, Any]
TARGET_DESCRIPTION = (
    "The object: 'deployment web', {kind: Deployment, name: web, namespace: prod}, or a version chosen at run "
    "time: {kind: ReplicaSet, cluster: web, criteria: newest|second_newest|oldest|largest|smallest}."
)


def is_template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def templated(value: Target) -> bool:
    """Whether a target (or any part of it) is only known once rendered."""
    return is_template(value) or (isinstance(value, dict) and any(is_template(v) for v in value.values()))


def check_target(value: Target) -> Target:
    """Parse the target now (errors name the field), unless it is rendered at run time."""
    if not templated(value):
        ManifestTarget.parse(value)  # TargetError is a ValueError: pydantic reports it on the field
    return value


def target_kind(value: Target) -> str | None:
    """The kind of a target known at parse time (``None`` when templated)."""
    return None if templated(value) else ManifestTarget.parse(value).kind


class KubernetesStage(StageBase):
    """Options of every stage that acts on a cluster."""

    account: str = Field(DEFAULT_ACCOUNT, min_length=1,
                         description="Airflow connection id of the cluster (type 'kubernetes').")
    namespace: str | None = Field(None, min_length=1,
                                  description="Namespace of targets that name none (default: the connection's).")


def operator_args(stage: KubernetesStage) -> dict[str, Any]:
    """Arguments every manifest operator takes from the stage."""
    return {"kubernetes_conn_id": stage.account, "namespace": stage.namespace}


def stage_timeout(stage: StageBase) -> timedelta | None:
    """The stage's ``timeout`` also bounds its stability wait (``None``: the operator's 30-minute default)."""
    return parse_duration(stage.timeout) if stage.timeout is not None else None
