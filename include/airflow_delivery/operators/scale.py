"""``ScaleManifestOperator``: set the replicas of a Deployment, StatefulSet or ReplicaSet, then wait for it.

Spinnaker's "Scale (Manifest)", with a static or dynamic target (e.g. scale the ``largest`` version of
a cluster down). The change is a JSON merge patch of ``spec.replicas``: repeating it after an API
failure gives the same object, so it is retried safely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar

from airflow.sdk import Context

from airflow_delivery.operators._kubernetes import KubernetesOperatorBase, ManifestTargetError, stable_timeout
from airflow_delivery.operators.stable import WaitForStableMixin

SCALABLE_KINDS = ("Deployment", "StatefulSet", "ReplicaSet")


class ScaleManifestOperator(WaitForStableMixin, KubernetesOperatorBase):
    """Scale ``target`` to ``replicas`` and wait until it is stable at that size.

    :param target: ``"deployment web"``, ``{"kind", "name", "namespace"?}`` or a dynamic target
        ``{"kind", "cluster", "criteria"}`` (templated); kinds Deployment, StatefulSet, ReplicaSet.
    :param replicas: the wanted replica count, 0 or more (templated: an int or its text).
    :param wait_for_stable: wait (deferred) until the workload is stable.
    :param timeout: how long to wait for stability (default 30 minutes).

    Returns (XCom) ``{"kind", "name", "namespace", "api_version", "replicas", "previous_replicas",
    "kubernetes_conn_id"}``, plus ``"stable"``/``"status"``/``"reason"`` after the wait.
    """

    template_fields: Sequence[str] = ("target", "replicas", "namespace", "kubernetes_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"target": "json"}

    def __init__(
        self,
        *,
        target: str | Mapping[str, Any],
        replicas: int | str,
        wait_for_stable: bool = True,
        timeout: timedelta | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(replicas, int) and not isinstance(replicas, bool) and replicas < 0:
            raise ValueError(f"{self.task_id}: replicas must be 0 or more, got {replicas}")
        self.target = target
        self.replicas = replicas
        self.wait_for_stable = wait_for_stable
        self.stable_timeout = stable_timeout(timeout, self.task_id)

    def _replicas(self) -> int:
        value = self.replicas
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{self.task_id}: replicas must be a whole number, 0 or more; got {self.replicas!r}")
        return value

    def execute(self, context: Context) -> dict[str, Any]:
        replicas = self._replicas()
        target = self.parse_target(self.target)
        if target.kind not in SCALABLE_KINDS:
            raise ManifestTargetError(f"{self.task_id}: cannot scale a {target.kind}: scalable kinds are "
                                      f"{', '.join(SCALABLE_KINDS)}")
        live = self.resolve(target)
        name = str(live["metadata"]["name"])
        previous = (live.get("spec") or {}).get("replicas")
        self.log.info("Scaling %s %s/%s from %s to %d replicas", target.kind, target.namespace, name, previous,
                      replicas)
        scaled = self.hook.patch(target.kind, name, target.namespace, {"spec": {"replicas": replicas}}, "merge",
                                 api_version=target.api_version)
        result = {**self.identity(scaled), "replicas": replicas, "previous_replicas": previous,
                  "kubernetes_conn_id": self.kubernetes_conn_id}
        if self.wait_for_stable:
            return self.defer_until_stable(context, targets=[self.identity(scaled)], result=result,
                                           timeout=self.stable_timeout, conn_id=self.kubernetes_conn_id)
        return result
