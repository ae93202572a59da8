"""``PatchManifestOperator``: patch a live object (Spinnaker's "Patch (Manifest)"), then wait for it to be stable.

Typical uses: change a sidecar's image, pause a rollout, or "rainbow deploy" by patching a Service's
selector. The patch is one request (strategic merge, JSON merge or JSON patch); with ``record`` the
object's ``kubernetes.io/change-cause`` annotation says which run and stage patched it and how, so
``kubectl rollout history`` shows it. Strategic and merge patches are retried after API failures (they
give the same object when repeated); a JSON patch is not, since repeating an ``add`` to a list would
apply it twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar

import yaml
from airflow.sdk import Context

from airflow_delivery.kubernetes.rollout import CHANGE_CAUSE_ANNOTATION
from airflow_delivery.kubernetes.stability import WORKLOAD_KINDS
from airflow_delivery.operators._kubernetes import KubernetesOperatorBase, stable_timeout
from airflow_delivery.operators.stable import WaitForStableMixin

PATCH_TYPES = ("strategic", "merge", "json")
CHANGE_CAUSE_LIMIT = 512
# Their content is secret: never echoed into annotations, logs or XCom.
SENSITIVE_KINDS = frozenset({"Secret"})


class PatchManifestOperator(WaitForStableMixin, KubernetesOperatorBase):
    """Patch ``target`` with ``patch`` and, for workloads, wait until the change has rolled out.

    :param target: ``"deployment web"``, ``{"kind", "name", "namespace"?, "api_version"?}`` or a dynamic
        target ``{"kind", "cluster", "criteria"}`` (templated).
    :param patch: the patch body: a mapping (strategic/merge), a list of operations (json), or YAML/JSON
        text of either (templated).
    :param patch_type: ``strategic`` (default; lists merge by key, built-in kinds only), ``merge``
        (RFC 7386) or ``json`` (RFC 6902).
    :param record: record the patch in the ``kubernetes.io/change-cause`` annotation (not for Secrets).
    :param wait_for_stable: wait until a patched workload is stable (deferred; other kinds never wait).
    :param timeout: how long to wait for stability (default 30 minutes).

    Returns (XCom) ``{"kind", "name", "namespace", "api_version", "patch_type", "uid", "generation",
    "resource_version", "recorded", "kubernetes_conn_id"}``, plus ``"stable"``/``"status"``/``"reason"``
    after a stability wait.
    """

    template_fields: Sequence[str] = ("target", "patch", "namespace", "kubernetes_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"target": "json", "patch": "json"}

    def __init__(
        self,
        *,
        target: str | Mapping[str, Any],
        patch: Mapping[str, Any] | Sequence[Any] | str,
        patch_type: str = "strategic",
        record: bool = True,
        wait_for_stable: bool = True,
        timeout: timedelta | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if patch_type not in PATCH_TYPES:
            raise ValueError(f"{self.task_id}: patch_type {patch_type!r} must be one of {', '.join(PATCH_TYPES)}")
        self.target = target
        self.patch = patch
        self.patch_type = patch_type
        self.record = record
        self.wait_for_stable = wait_for_stable
        self.stable_timeout = stable_timeout(timeout, self.task_id)

    def _patch_body(self) -> Any:
        # Checked after templating: a templated patch is only known now.
        body = self.patch
        if isinstance(body, str):
            try:
                body = yaml.safe_load(body)
            except yaml.YAMLError as exc:
                raise ValueError(f"{self.task_id}: the patch is not valid YAML or JSON: {exc}") from None
        if self.patch_type == "json":
            if not isinstance(body, list) or not body or not all(isinstance(op, Mapping) and "op" in op
                                                                 and "path" in op for op in body):
                raise ValueError(f"{self.task_id}: a json patch is a non-empty list of operations such as "
                                 "{op: replace, path: /spec/replicas, value: 3}")
        elif not isinstance(body, Mapping) or not body:
            raise ValueError(f"{self.task_id}: a {self.patch_type} patch is a non-empty mapping, e.g. "
                             f"{{spec: {{replicas: 3}}}}; got {type(body).__name__}")
        return body

    def _change_cause(self, context: Context, kind: str, body: Any) -> str:
        ti = context["ti"]
        text = f"airflow-delivery {ti.dag_id}.{ti.task_id} run {ti.run_id}: {self.patch_type} patch"
        if kind not in SENSITIVE_KINDS:
            text += " " + json.dumps(body, sort_keys=True, separators=(",", ":"))
        return text if len(text) <= CHANGE_CAUSE_LIMIT else text[: CHANGE_CAUSE_LIMIT - 3] + "..."

    def execute(self, context: Context) -> dict[str, Any]:
        target = self.parse_target(self.target)
        body = self._patch_body()
        name = str(self.resolve(target)["metadata"]["name"]) if target.dynamic else str(target.name)
        cause = self._change_cause(context, target.kind, body) if self.record else None
        if cause and self.patch_type != "json":
            # One request: the annotation travels with the change itself.
            body = {**body, "metadata": {**(body.get("metadata") or {}),
                                         "annotations": {**((body.get("metadata") or {}).get("annotations") or {}),
                                                         CHANGE_CAUSE_ANNOTATION: cause}}}
        self.log.info("%s-patching %s %s/%s", self.patch_type, target.kind, target.namespace, name)
        patched = self.hook.patch(target.kind, name, target.namespace, body, self.patch_type,  # type: ignore[arg-type]
                                  api_version=target.api_version)
        if cause and self.patch_type == "json":
            # A JSON patch cannot add an annotation to an object that has none; a merge patch can, safely.
            patched = self.hook.patch(target.kind, name, target.namespace,
                                      {"metadata": {"annotations": {CHANGE_CAUSE_ANNOTATION: cause}}}, "merge",
                                      api_version=target.api_version)
        metadata = patched.get("metadata") or {}
        result = {
            **self.identity(patched),
            "patch_type": self.patch_type,
            "uid": metadata.get("uid"),
            "generation": metadata.get("generation"),
            "resource_version": metadata.get("resourceVersion"),
            "recorded": cause is not None,
            "kubernetes_conn_id": self.kubernetes_conn_id,
        }
        self.log.info("Patched %s %s/%s (generation %s)", target.kind, target.namespace, name,
                      metadata.get("generation"))
        if self.wait_for_stable and target.kind in WORKLOAD_KINDS:
            return self.defer_until_stable(context, targets=[self.identity(patched)], result=result,
                                           timeout=self.stable_timeout, conn_id=self.kubernetes_conn_id)
        return result
