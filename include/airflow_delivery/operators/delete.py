"""``DeleteManifestOperator``: delete objects by name, by dynamic target, or by label selector.

Spinnaker's "Delete (Manifest)" modes: ``static`` (a named object), ``dynamic`` (e.g. the ``oldest``
version of cluster ``web``) and ``label`` (every object of the listed kinds matching a selector). An
empty selector is refused: it would delete every object of the kind in the namespace. What was
deleted is returned (XCom), names only.

Deletes are retried after API failures (deleting twice deletes the same object). Existence is read
before deleting, so a 404 answering a retried delete whose first attempt went through counts as
deleted, while an object that was never there fails the stage unless ``missing_ok``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from airflow.sdk import Context

from airflow_delivery.kubernetes.errors import NotFoundError
from airflow_delivery.kubernetes.targets import canonical_kind
from airflow_delivery.operators._kubernetes import KubernetesOperatorBase, ManifestTargetError

PROPAGATION_POLICIES = ("Background", "Foreground", "Orphan")


def selector_text(selector: str | Mapping[str, Any] | None) -> str:
    """``{"app": "web", "track": "canary"}`` -> ``"app=web,track=canary"``; text is returned trimmed."""
    if selector is None:
        return ""
    if isinstance(selector, Mapping):
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    return str(selector).strip()


class DeleteManifestOperator(KubernetesOperatorBase):
    """Delete ``target``, or every object of ``kinds`` matching ``label_selector``.

    :param target: ``"deployment web"``, ``{"kind", "name", "namespace"?}`` or a dynamic target
        ``{"kind", "cluster", "criteria"}`` such as the ``oldest`` ReplicaSet of cluster ``web`` (templated).
    :param kinds: with ``label_selector``: the kinds to delete (e.g. ``["Deployment", "Service"]``).
    :param label_selector: ``"app=web,track=canary"`` or ``{"app": "web"}``; never empty (templated).
    :param propagation: ``Background`` (default), ``Foreground`` or ``Orphan`` (keep dependents).
    :param missing_ok: nothing to delete is not an error (a missing object, no matching version, a
        selector matching nothing).

    Returns (XCom) ``{"deleted": [{"kind", "name", "namespace"}], "missing": [text], "propagation",
    "kubernetes_conn_id"}``.
    """

    template_fields: Sequence[str] = ("target", "kinds", "label_selector", "namespace", "kubernetes_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"target": "json", "label_selector": "json"}
    ui_color = "#f0e4e4"

    def __init__(
        self,
        *,
        target: str | Mapping[str, Any] | None = None,
        kinds: Sequence[str] | None = None,
        label_selector: str | Mapping[str, Any] | None = None,
        propagation: str = "Background",
        missing_ok: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (target is None) == (label_selector is None):
            raise ValueError(f"{self.task_id}: give either target (one object) or kinds + label_selector, "
                             "exactly one of the two")
        if label_selector is not None and not kinds:
            raise ValueError(f"{self.task_id}: label_selector needs kinds: the kinds of objects to delete, "
                             "e.g. [Deployment, Service]")
        if target is not None and kinds:
            raise ValueError(f"{self.task_id}: kinds only applies with label_selector; a target names its own kind")
        if label_selector is not None and not selector_text(label_selector):
            raise ValueError(f"{self.task_id}: label_selector is empty; an empty selector would delete every "
                             f"{', '.join(kinds or [])} in the namespace")
        if propagation not in PROPAGATION_POLICIES:
            raise ValueError(f"{self.task_id}: propagation {propagation!r} must be one of "
                             f"{', '.join(PROPAGATION_POLICIES)}")
        self.target = target
        self.kinds = list(kinds) if kinds else None
        self.label_selector = label_selector
        self.propagation = propagation
        self.missing_ok = missing_ok

    def execute(self, context: Context) -> dict[str, Any]:
        deleted: list[dict[str, Any]] = []
        missing: list[str] = []
        if self.target is not None:
            self._delete_target(deleted, missing)
        else:
            self._delete_by_label(deleted, missing)
        for item in deleted:
            self.log.info("Deleted %s %s/%s (%s)", item["kind"], item["namespace"], item["name"], self.propagation)
        return {"deleted": deleted, "missing": missing, "propagation": self.propagation,
                "kubernetes_conn_id": self.kubernetes_conn_id}

    def _delete_target(self, deleted: list[dict[str, Any]], missing: list[str]) -> None:
        target = self.parse_target(self.target)
        if target.dynamic:
            try:
                name = str(self.resolve(target)["metadata"]["name"])
            except ManifestTargetError as exc:
                if not self.missing_ok:
                    raise
                self.log.info("Nothing to delete (missing_ok): %s", exc)
                missing.append(target.describe())
                return
        else:
            name = str(target.name)
            if not self.missing_ok:
                # Read first, so "it was never there" fails clearly, while a 404 on the delete itself (a
                # retried request whose first attempt went through) counts as deleted.
                try:
                    self.hook.get(target.kind, name, target.namespace, api_version=target.api_version)
                except NotFoundError as exc:
                    exc.args = ((f"{self.task_id}: {exc.args[0]}; set missing_ok to treat an absent object as "
                                "already deleted"),)
                    raise
        answer = self.hook.delete(target.kind, name, target.namespace, api_version=target.api_version,
                                  propagation=self.propagation, missing_ok=True)  # type: ignore[arg-type]
        if answer is None and self.missing_ok:
            self.log.info("%s %s/%s does not exist; nothing to delete (missing_ok)", target.kind, target.namespace,
                          name)
            missing.append(f"{target.kind} {target.namespace}/{name}")
            return
        deleted.append({"kind": target.kind, "name": name, "namespace": target.namespace})

    def _delete_by_label(self, deleted: list[dict[str, Any]], missing: list[str]) -> None:
        # Checked again after templating: a template may render to an empty selector.
        selector = selector_text(self.label_selector)
        kinds = [canonical_kind(str(k)) for k in self.kinds or []]
        if not selector:
            raise ValueError(f"{self.task_id}: label_selector rendered empty; an empty selector would delete every "
                             f"{', '.join(kinds)} in the namespace")
        namespace = self.namespace or self.hook.default_namespace()
        for kind in kinds:
            # Listed first: a retried delete-collection whose first attempt went through answers with an
            # empty list, yet those objects were deleted by this stage.
            listed = self.hook.list(kind, namespace, label_selector=selector)
            items = self.hook.delete_collection(kind, namespace, label_selector=selector,
                                                propagation=self.propagation)  # type: ignore[arg-type]
            names = dict.fromkeys(str((i.get("metadata") or {}).get("name")) for i in [*listed, *items])
            if not names:
                missing.append(f"no {kind} in {namespace} matches {selector}")
            deleted.extend({"kind": kind, "name": name, "namespace": namespace} for name in names)
        if not deleted and not self.missing_ok:
            raise ManifestTargetError(
                f"{self.task_id}: label selector {selector!r} matches no {', '.join(kinds)} in namespace "
                f"{namespace}: check the selector, or set missing_ok if nothing to delete is fine")
