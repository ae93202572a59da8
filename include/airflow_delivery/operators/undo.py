"""``UndoRolloutOperator``: roll a Deployment back N revisions, or to a revision number, then wait for it.

Spinnaker's "Undo Rollout (Manifest)" and ``kubectl rollout undo [--to-revision=N]``: the chosen
revision's pod template comes from the ReplicaSet that holds it (``deployment.kubernetes.io/revision``)
and is written back into the Deployment (``kubernetes.rollout``); the controller then scales that
ReplicaSet up again under the next revision number, exactly as after ``kubectl rollout undo``.

Only Deployments: StatefulSets and DaemonSets keep their history in ControllerRevisions, which this
stage does not read yet. Rolling back a workload does not roll back un-versioned ConfigMaps or
Secrets it reads; deploy them versioned (``versioning``) so each revision references its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar

from airflow.sdk import Context

from airflow_delivery.kubernetes.rollout import (
    UNDOABLE_KINDS,
    RolloutError,
    choose_revision,
    current_revision,
    revisions,
    template_without_hash,
    undo_patch,
)
from airflow_delivery.operators._kubernetes import KubernetesOperatorBase, ManifestTargetError, stable_timeout
from airflow_delivery.operators.stable import WaitForStableMixin
from airflow_delivery.triggers.stable import selector_string


def _whole_number(value: int | str | None, name: str, where: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: {name} must be a whole number, got {value!r}")  # noqa: TRY004 - bad input
    return value


class UndoRolloutOperator(WaitForStableMixin, KubernetesOperatorBase):
    """Roll ``target`` back ``revisions_back`` revisions (default 1) or to ``revision``, and wait until stable.

    :param target: ``"deployment web"``, ``{"kind": "Deployment", "name", "namespace"?}`` or a dynamic target
        (templated).
    :param revisions_back: how many revisions before the current one (Spinnaker's ``numRevisionsBack``).
    :param revision: a revision number (``kubectl rollout undo --to-revision``); exclusive with revisions_back.
    :param wait_for_stable: wait (deferred) until the Deployment is stable on the restored template.
    :param timeout: how long to wait for stability (default 30 minutes).

    Returns (XCom) ``{"kind", "name", "namespace", "api_version", "from_revision", "to_revision",
    "replicaset", "images", "changed", "revisions", "kubernetes_conn_id"}`` (``revisions``: what existed
    before the undo), plus ``"stable"``/``"status"``/``"reason"`` after the wait. ``changed`` is false when
    the Deployment already ran that revision's template.
    """

    template_fields: Sequence[str] = ("target", "revisions_back", "revision", "namespace", "kubernetes_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"target": "json"}
    ui_color = "#f0ece4"

    def __init__(
        self,
        *,
        target: str | Mapping[str, Any],
        revisions_back: int | str | None = None,
        revision: int | str | None = None,
        wait_for_stable: bool = True,
        timeout: timedelta | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if revisions_back is not None and revision is not None:
            raise ValueError(f"{self.task_id}: give revisions_back ({revisions_back!r}) or revision ({revision!r}), "
                             "not both")
        self.target = target
        self.revisions_back = 1 if revisions_back is None and revision is None else revisions_back
        self.revision = revision
        self.wait_for_stable = wait_for_stable
        self.stable_timeout = stable_timeout(timeout, self.task_id)

    def execute(self, context: Context) -> dict[str, Any]:
        revision = _whole_number(self.revision, "revision", self.task_id)
        back = _whole_number(self.revisions_back, "revisions_back", self.task_id)
        target = self.parse_target(self.target)
        if target.kind not in UNDOABLE_KINDS:
            raise ManifestTargetError(
                f"{self.task_id}: cannot undo the rollout of a {target.kind}: only {', '.join(UNDOABLE_KINDS)} "
                "history (its ReplicaSets) is read; for versioned ReplicaSets, move traffic back instead")
        deployment = self.resolve(target)
        name = str(deployment["metadata"]["name"])
        selector = selector_string((deployment.get("spec") or {}).get("selector"))
        replicasets = self.hook.list("ReplicaSet", target.namespace, api_version="apps/v1", label_selector=selector)
        history = revisions(deployment, replicasets)
        try:
            chosen = choose_revision(deployment, history, revision=revision,
                                     revisions_back=None if revision is not None else back)
        except RolloutError as exc:
            raise RolloutError(f"{self.task_id}: {exc}") from None
        current = current_revision(deployment, history)
        patch = undo_patch(deployment, chosen)
        live_template = template_without_hash((deployment.get("spec") or {}).get("template") or {})
        changed = live_template != chosen.template
        if changed:
            self.log.info("Rolling %s %s/%s back from revision %s to revision %d (%s, images %s)", target.kind,
                          target.namespace, name, current.number if current else "?", chosen.number,
                          chosen.replicaset, ", ".join(chosen.images))
            deployment = self.hook.patch(target.kind, name, target.namespace, patch, "merge",
                                         api_version=target.api_version)
        else:
            self.log.info("%s %s/%s already runs the template of revision %d; nothing to undo", target.kind,
                          target.namespace, name, chosen.number)
        result = {
            **self.identity(deployment),
            "from_revision": current.number if current else None,
            "to_revision": chosen.number,
            "replicaset": chosen.replicaset,
            "images": chosen.images,
            "changed": changed,
            "revisions": [r.summary() for r in history],
            "kubernetes_conn_id": self.kubernetes_conn_id,
        }
        if self.wait_for_stable:
            return self.defer_until_stable(context, targets=[self.identity(deployment)], result=result,
                                           timeout=self.stable_timeout, conn_id=self.kubernetes_conn_id)
        return result
