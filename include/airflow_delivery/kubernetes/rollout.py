"""Rolling a Deployment back to an earlier revision, the way ``kubectl rollout undo`` does it.

A Deployment keeps its history as the ReplicaSets it owns, each annotated with
``deployment.kubernetes.io/revision``. Undo copies the chosen ReplicaSet's pod template (minus the
``pod-template-hash`` label the controller added) and annotations back into the Deployment; the
controller then finds that ReplicaSet again, gives it the next revision number and scales it up, so
``kubectl rollout history`` shows the old template as the newest revision.

Unlike kubectl (a JSON patch, which a client must not repeat after an unknown outcome), the change is
sent as a JSON merge patch computed as the difference between the live Deployment and the wanted one:
sending it twice gives the same object, so API failures can be retried safely.

Pure: objects are API dicts; nothing here talks to a cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_delivery.kubernetes.manifests import images

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
# What kubectl keeps from the Deployment instead of copying from the ReplicaSet (kubectl's annotationsToSkip).
ANNOTATIONS_TO_SKIP = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
})
UNDOABLE_KINDS = ("Deployment",)


class RolloutError(ValueError):
    """The requested undo cannot be done; the message lists the revisions that exist."""


@dataclass(frozen=True)
class Revision:
    """One revision of a Deployment: its number, the ReplicaSet holding it and what it ran."""

    number: int
    replicaset: str
    template: Mapping[str, Any]
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def images(self) -> list[str]:
        return images({"kind": "Pod", "spec": self.template.get("spec") or {}})

    @property
    def change_cause(self) -> str | None:
        return self.annotations.get(CHANGE_CAUSE_ANNOTATION)

    def summary(self) -> dict[str, Any]:
        return {"revision": self.number, "replicaset": self.replicaset, "images": self.images,
                "change_cause": self.change_cause}


def _revision_number(obj: Mapping[str, Any]) -> int | None:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION)
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


def _owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid and ref.get("controller")
               for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def template_without_hash(template: Mapping[str, Any]) -> dict[str, Any]:
    """The pod template without the controller's ``pod-template-hash`` label (how templates are compared)."""
    result = copy.deepcopy(dict(template or {}))
    labels = (result.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH_LABEL, None)
    return result


def revisions(deployment: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]]) -> list[Revision]:
    """The revisions of ``deployment`` held by the ReplicaSets it controls, oldest first."""
    uid = str((deployment.get("metadata") or {}).get("uid") or "")
    found: dict[int, Revision] = {}
    for rs in replicasets:
        number = _revision_number(rs)
        if number is None or not uid or not _owned_by(rs, uid):
            continue
        metadata = rs.get("metadata") or {}
        found[number] = Revision(
            number=number,
            replicaset=str(metadata.get("name")),
            template=template_without_hash((rs.get("spec") or {}).get("template") or {}),
            annotations=dict(metadata.get("annotations") or {}),
        )
    return [found[n] for n in sorted(found)]


def current_revision(deployment: Mapping[str, Any], history: list[Revision]) -> Revision | None:
    """The revision whose template the Deployment runs now (by template, then by the revision annotation)."""
    wanted = template_without_hash((deployment.get("spec") or {}).get("template") or {})
    matching = [r for r in history if r.template == wanted]
    if matching:
        return matching[-1]
    number = _revision_number(deployment)
    return next((r for r in history if r.number == number), None)


def choose_revision(
    deployment: Mapping[str, Any],
    history: list[Revision],
    *,
    revision: int | None = None,
    revisions_back: int | None = None,
) -> Revision:
    """The revision to roll back to: ``revision`` by number, or ``revisions_back`` steps before the current one.

    Raises ``RolloutError`` naming the revisions that exist when the one asked for does not.
    """
    if (revision is None) == (revisions_back is None):
        raise RolloutError("give exactly one of revision (a number) or revisions_back (how many steps back)")
    name = _describe(deployment)
    numbers = ", ".join(str(r.number) for r in history) or "none"
    current = current_revision(deployment, history)
    if revision is not None:
        if revision < 1:
            raise RolloutError(f"revision {revision} is not a revision number: revisions count from 1")
        chosen = next((r for r in history if r.number == revision), None)
        if chosen is None:
            raise RolloutError(
                f"{name} has no revision {revision}: the revisions it still has are {numbers}"
                f"{f' (current {current.number})' if current else ''}; older ones were pruned by "
                "revisionHistoryLimit or never existed"
            )
        return chosen
    assert revisions_back is not None
    if revisions_back < 1:
        raise RolloutError(f"revisions_back={revisions_back}: roll back at least 1 revision")
    if current is None:
        raise RolloutError(
            f"{name}: no ReplicaSet matches its current pod template (its rollout may not have started yet), "
            f"so 'back' is undefined; its revisions are {numbers}: roll back to a revision number instead"
        )
    older = [r for r in history if r.number < current.number]
    if revisions_back > len(older):
        raise RolloutError(
            f"{name} cannot go {revisions_back} revision{'s' if revisions_back > 1 else ''} back from revision "
            f"{current.number}: only {len(older)} older revision{'s' if len(older) != 1 else ''} exist "
            f"(revisions {numbers})"
        )
    return older[-revisions_back]


def rollback_annotations(deployment: Mapping[str, Any], revision: Revision) -> dict[str, str]:
    """The Deployment's annotations after the undo: kubectl keeps its own bookkeeping ones and takes the
    ReplicaSet's others (so the change-cause of the old revision comes back with it)."""
    own = dict((deployment.get("metadata") or {}).get("annotations") or {})
    result = {k: v for k, v in own.items() if k in ANNOTATIONS_TO_SKIP}
    result.update({k: v for k, v in revision.annotations.items() if k not in ANNOTATIONS_TO_SKIP})
    return result


def merge_patch_diff(source: Any, target: Any) -> Any:
    """An RFC 7386 merge patch turning ``source`` into ``target`` (``None`` removes a key; lists are replaced).

    Applying it to ``source`` gives ``target``; applying it twice gives the same result.
    """
    if not isinstance(source, Mapping) or not isinstance(target, Mapping):
        return copy.deepcopy(target)
    patch: dict[str, Any] = {}
    for key in source:
        if key not in target:
            patch[key] = None
    for key, value in target.items():
        if key not in source:
            patch[key] = copy.deepcopy(value)
        elif source[key] != value:
            if isinstance(source[key], Mapping) and isinstance(value, Mapping):
                patch[key] = merge_patch_diff(source[key], value)
            else:
                patch[key] = copy.deepcopy(value)
    return patch


def undo_patch(deployment: Mapping[str, Any], revision: Revision) -> dict[str, Any]:
    """The merge patch that puts ``revision``'s pod template and annotations into ``deployment``
    (empty when the Deployment already runs that template)."""
    live_template = (deployment.get("spec") or {}).get("template") or {}
    live_annotations = dict((deployment.get("metadata") or {}).get("annotations") or {})
    patch: dict[str, Any] = {}
    template_patch = merge_patch_diff(live_template, dict(revision.template))
    if template_patch:
        patch["spec"] = {"template": template_patch}
    annotations_patch = merge_patch_diff(live_annotations, rollback_annotations(deployment, revision))
    if annotations_patch and template_patch:
        patch["metadata"] = {"annotations": annotations_patch}
    return patch


def _describe(deployment: Mapping[str, Any]) -> str:
    metadata = deployment.get("metadata") or {}
    namespace = metadata.get("namespace")
    return f"{deployment.get('kind', 'Deployment')} {namespace + '/' if namespace else ''}{metadata.get('name', '?')}"
