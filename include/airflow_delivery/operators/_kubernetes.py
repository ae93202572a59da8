"""What the manifest operators (patch, scale, delete, undo, find artifacts) share: the hook and the target.

A target is parsed (``kubernetes.targets.ManifestTarget``) after templating, in ``execute``, and
resolved against the cluster: a named object is read, a dynamic one ("the second newest ReplicaSet of
cluster web") is chosen among the listed versions. Errors name the task and the target.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from airflow_delivery.kubernetes.targets import ManifestTarget, TargetError, TargetNotFoundError
from airflow_delivery.operators.stable import check_timeout

DEFAULT_CONN_ID = "kubernetes_default"


class ManifestTargetError(ValueError):
    """A stage's target is malformed or matches nothing; the message names the task and the target."""


class KubernetesOperatorBase(BaseOperator):
    """Connection, request timeout and target handling for the manifest operators.

    :param kubernetes_conn_id: the cluster (Spinnaker "account").
    :param namespace: namespace of a target that names none (default: the connection's).
    :param request_timeout: seconds allowed for each API request (failed requests are retried).
    """

    ui_color = "#e4ecf0"

    def __init__(
        self,
        *,
        kubernetes_conn_id: str = DEFAULT_CONN_ID,
        namespace: str | None = None,
        request_timeout: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if request_timeout <= 0:
            raise ValueError(f"{self.task_id}: request_timeout must be > 0 seconds, got {request_timeout!r}")
        self.kubernetes_conn_id = kubernetes_conn_id
        self.namespace = namespace
        self.request_timeout = request_timeout

    @cached_property
    def hook(self) -> Any:
        from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook

        return DeliveryKubernetesHook(conn_id=self.kubernetes_conn_id, request_timeout=self.request_timeout)

    def parse_target(self, value: Any) -> ManifestTarget:
        """The target after templating, with the stage's (or the connection's) namespace filled in."""
        if isinstance(value, ManifestTarget) and value.namespace:
            return value
        try:
            return ManifestTarget.parse(value, namespace=self.namespace or self.hook.default_namespace())
        except TargetError as exc:
            raise ManifestTargetError(f"{self.task_id}: {exc}") from None

    def resolve(self, target: ManifestTarget) -> dict[str, Any]:
        """The live object ``target`` means; ``kubernetes.errors.NotFoundError`` for a missing named object,
        ``ManifestTargetError`` when no version matches a dynamic target."""
        if not target.dynamic:
            return dict(self.hook.get(target.kind, str(target.name), target.namespace,
                                      api_version=target.api_version))
        objects = self.hook.list(target.kind, target.namespace, api_version=target.api_version)
        try:
            chosen = dict(target.resolve(objects))
        except TargetNotFoundError as exc:
            raise ManifestTargetError(f"{self.task_id}: {target.describe()}: {exc}") from None
        self.log.info("%s is %s", target.describe(), chosen["metadata"]["name"])
        return chosen

    @staticmethod
    def identity(obj: Mapping[str, Any]) -> dict[str, Any]:
        """``{"kind", "name", "namespace", "api_version"}`` of a live object: a stable-wait target and XCom."""
        metadata = obj.get("metadata") or {}
        return {"kind": obj.get("kind"), "name": metadata.get("name"), "namespace": metadata.get("namespace"),
                "api_version": obj.get("apiVersion")}


def stable_timeout(timeout: timedelta | float | None, where: str) -> timedelta:
    """The stability wait's timeout (default 30 minutes), validated."""
    return check_timeout(timeout, where)


__all__ = ["DEFAULT_CONN_ID", "KubernetesOperatorBase", "ManifestTargetError", "stable_timeout"]
