"""``FindArtifactsFromResourceOperator``: what a live workload runs, as artifacts for later stages.

Spinnaker's "Find Artifacts From Resource": read production's Deployment and hand its image on, so a
canary's baseline runs exactly what production runs (not "latest", not what the pipeline file says),
or a tested image is promoted. Read-only; Secrets are reported by name, their content never read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from airflow.sdk import Context

from airflow_delivery.kubernetes.resource_artifacts import NotAWorkloadError, artifacts_of
from airflow_delivery.operators._kubernetes import KubernetesOperatorBase


class FindArtifactsFromResourceOperator(KubernetesOperatorBase):
    """Read ``target`` and return its images, ConfigMaps and Secrets.

    :param target: ``"deployment web"``, ``{"kind", "name", "namespace"?}`` or a dynamic target
        ``{"kind", "cluster", "criteria"}`` (templated); any kind with a pod template.

    Returns (XCom) ``{"resource": {"kind", "name", "namespace", "api_version", "uid", "generation",
    "revision"}, "images": [{"type": "docker/image", "container", "reference", "repository", "tag",
    "digest"}], "config_maps": [{"type", "name", "namespace", "paths"}], "secrets": [same, names only],
    "artifacts": [all of them], "kubernetes_conn_id"}``.
    """

    template_fields: Sequence[str] = ("target", "namespace", "kubernetes_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"target": "json"}

    def __init__(self, *, target: str | Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target

    def execute(self, context: Context) -> dict[str, Any]:
        target = self.parse_target(self.target)
        live = self.resolve(target)
        try:
            found = artifacts_of(live)
        except NotAWorkloadError as exc:
            raise NotAWorkloadError(f"{self.task_id}: {exc}") from None
        for image in found["images"]:
            self.log.info("Container %s runs %s", image["container"], image["reference"])
        for entry in [*found["config_maps"], *found["secrets"]]:
            self.log.info("Reads %s %s", entry["type"], entry["name"])
        return {**found, "kubernetes_conn_id": self.kubernetes_conn_id}
