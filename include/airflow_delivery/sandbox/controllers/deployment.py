"""The Deployment controller, following Kubernetes' own algorithm closely enough for rollouts to look real.

* The pod template (without the ``pod-template-hash`` label) identifies a ReplicaSet; a new template gets
  a new ReplicaSet ``<deployment>-<hash>``; an old template (``kubectl rollout undo``) gets its old
  ReplicaSet back, with a new revision and ``deployment.kubernetes.io/revision-history``.
* RollingUpdate honours ``maxSurge``/``maxUnavailable`` (percentages round up for surge, down for
  unavailable), scaling the new ReplicaSet up and old ones down as pods become available; Recreate
  scales old ReplicaSets to zero first.
* Status: ``observedGeneration``, ``replicas``, ``updatedReplicas``, ``readyReplicas``,
  ``availableReplicas``, ``unavailableReplicas`` and the ``Available``/``Progressing`` conditions, with
  ``ProgressDeadlineExceeded`` when no progress happens for ``progressDeadlineSeconds``.
* Old ReplicaSets beyond ``revisionHistoryLimit`` are deleted.
"""

from __future__ import annotations

import copy
import json
import math
from datetime import timedelta
from typing import Any

from airflow_delivery.sandbox.clock import Clock, parse_rfc3339, rfc3339
from airflow_delivery.sandbox.controllers.common import (
    Obj,
    Resources,
    controlled_by,
    controller_ref,
    deleting,
    get_condition,
    safe_write,
    set_condition,
)
from airflow_delivery.sandbox.controllers.events import EventRecorder
from airflow_delivery.sandbox.errors import AlreadyExists, ApiError
from airflow_delivery.sandbox.store import ObjectStore

COMPONENT = "deployment-controller"
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# Annotations a Deployment does not copy onto its ReplicaSets.
_SKIPPED_ANNOTATIONS = {REVISION, REVISION_HISTORY, DESIRED, MAX_REPLICAS,
                        "kubectl.kubernetes.io/last-applied-configuration"}


def template_without_hash(template: Obj) -> Obj:
    result = copy.deepcopy(template or {})
    labels = (result.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return result


def pod_template_hash(template: Obj, collision_count: int = 0) -> str:
    """A stable short hash of the template, encoded with Kubernetes' safe alphabet (``5d8f9c7b4``)."""
    text = json.dumps(template_without_hash(template), sort_keys=True, separators=(",", ":"))
    if collision_count:
        text += str(collision_count)
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in str(value))


def resolve_int_or_percent(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        scaled = total * int(text[:-1]) / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(text)


def surge_and_unavailable(deployment: Obj) -> tuple[int, int]:
    spec = deployment["spec"]
    replicas = int(spec.get("replicas", 1))
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, replicas
    rolling = strategy.get("rollingUpdate") or {}
    surge = resolve_int_or_percent(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = resolve_int_or_percent(rolling.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def revision_of(obj: Obj) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def _replicas(rs: Obj) -> int:
    return int(rs["spec"].get("replicas", 0))


def _status_int(rs: Obj, key: str) -> int:
    return int((rs.get("status") or {}).get(key) or 0)


class DeploymentController:
    def __init__(self, store: ObjectStore, resources: Resources, clock: Clock, events: EventRecorder) -> None:
        self.store = store
        self.resources = resources
        self.clock = clock
        self.events = events

    def reconcile(self) -> None:
        deployments, _ = self.store.list(self.resources.deployments)
        if not deployments:
            return
        all_rs, _ = self.store.list(self.resources.replicasets)
        for deployment in deployments:
            if deleting(deployment):
                continue
            uid = deployment["metadata"]["uid"]
            owned = [rs for rs in all_rs if controlled_by(rs, uid) and not deleting(rs)]
            try:
                self._sync(deployment, owned)
            except ApiError:
                continue  # a conflicting write: the next loop sees fresh state

    # --- the sync loop ----------------------------------------------------------------------------

    def _sync(self, deployment: Obj, owned: list[Obj]) -> None:
        template = deployment["spec"].get("template") or {}
        wanted = template_without_hash(template)
        new_rs = next((rs for rs in owned if template_without_hash(rs["spec"].get("template")) == wanted), None)
        old = [rs for rs in owned if rs is not new_rs]
        if deployment["spec"].get("paused"):
            self._update_status(deployment, new_rs, old, paused=True)
            return
        if new_rs is None:
            new_rs = self._create_new_rs(deployment, old)
            if new_rs is None:
                return
            created = True
        else:
            created = False
            new_rs = self._sync_revision(deployment, new_rs, old)
        self._annotate_deployment(deployment, new_rs)
        strategy = (deployment["spec"].get("strategy") or {}).get("type", "RollingUpdate")
        if strategy == "Recreate":
            self._recreate(deployment, new_rs, old)
        else:
            self._rolling(deployment, new_rs, old)
        self._cleanup(deployment, old)
        self._update_status(deployment, new_rs, old, created=created)

    def _create_new_rs(self, deployment: Obj, old: list[Obj]) -> Obj | None:
        md, spec = deployment["metadata"], deployment["spec"]
        collision = int((deployment.get("status") or {}).get("collisionCount") or 0)
        template_hash = pod_template_hash(spec.get("template") or {}, collision)
        template = copy.deepcopy(spec.get("template") or {})
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = template_hash
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = template_hash
        revision = max((revision_of(rs) for rs in old), default=0) + 1
        annotations = {k: v for k, v in (md.get("annotations") or {}).items() if k not in _SKIPPED_ANNOTATIONS}
        surge, _ = surge_and_unavailable(deployment)
        annotations.update({REVISION: str(revision), DESIRED: str(spec.get("replicas", 1)),
                            MAX_REPLICAS: str(int(spec.get("replicas", 1)) + surge)})
        labels = dict(template["metadata"]["labels"])
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{md['name']}-{template_hash}",
                "namespace": md["namespace"],
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [controller_ref(deployment)],
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                "selector": selector,
                "template": template,
            },
        }
        rs["spec"]["replicas"] = self._new_rs_replicas(deployment, rs, old)
        try:
            created = self.store.create(self.resources.replicasets, rs, manager=COMPONENT)
        except AlreadyExists:
            status = copy.deepcopy(deployment.get("status") or {})
            status["collisionCount"] = collision + 1
            deployment["status"] = status
            safe_write(self.store, self.resources.deployments, deployment, status=True, manager=COMPONENT)
            return None
        if created["spec"]["replicas"]:
            self.events.record(deployment, "Normal", "ScalingReplicaSet",
                               f"Scaled up replica set {created['metadata']['name']} from 0 to "
                               f"{created['spec']['replicas']}", COMPONENT)
        return created

    def _sync_revision(self, deployment: Obj, new_rs: Obj, old: list[Obj]) -> Obj:
        """An old template coming back (rollout undo) takes the next revision, remembering its previous ones."""
        max_old = max((revision_of(rs) for rs in old), default=0)
        current = revision_of(new_rs)
        annotations = new_rs["metadata"].setdefault("annotations", {})
        changed = False
        if current <= max_old:
            history = [h for h in (annotations.get(REVISION_HISTORY) or "").split(",") if h]
            if current:
                history.append(str(current))
            annotations[REVISION_HISTORY] = ",".join(history)
            annotations[REVISION] = str(max_old + 1)
            changed = True
        cause = (deployment["metadata"].get("annotations") or {}).get(CHANGE_CAUSE)
        if cause and annotations.get(CHANGE_CAUSE) != cause:
            annotations[CHANGE_CAUSE] = cause
            changed = True
        if changed:
            written = safe_write(self.store, self.resources.replicasets, new_rs, manager=COMPONENT)
            return written or new_rs
        return new_rs

    def _annotate_deployment(self, deployment: Obj, new_rs: Obj) -> None:
        annotations = deployment["metadata"].setdefault("annotations", {})
        revision = str(revision_of(new_rs))
        if annotations.get(REVISION) != revision:
            annotations[REVISION] = revision
            written = safe_write(self.store, self.resources.deployments, deployment, manager=COMPONENT)
            if written is not None:
                deployment.clear()
                deployment.update(written)

    def _new_rs_replicas(self, deployment: Obj, new_rs: Obj, old: list[Obj]) -> int:
        replicas = int(deployment["spec"].get("replicas", 1))
        if (deployment["spec"].get("strategy") or {}).get("type") == "Recreate":
            return replicas if not any(_replicas(rs) or _status_int(rs, "replicas") for rs in old) else 0
        surge, _ = surge_and_unavailable(deployment)
        current = _replicas(new_rs)
        if current > replicas:
            return replicas
        total = current + sum(_replicas(rs) for rs in old)
        max_total = replicas + surge
        if total >= max_total:
            return current
        return current + min(max_total - total, replicas - current)

    def _scale(self, deployment: Obj, rs: Obj, replicas: int) -> Obj:
        before = _replicas(rs)
        if before == replicas:
            return rs
        rs["spec"]["replicas"] = replicas
        annotations = rs["metadata"].setdefault("annotations", {})
        surge, _ = surge_and_unavailable(deployment)
        annotations[DESIRED] = str(deployment["spec"].get("replicas", 1))
        annotations[MAX_REPLICAS] = str(int(deployment["spec"].get("replicas", 1)) + surge)
        written = safe_write(self.store, self.resources.replicasets, rs, manager=COMPONENT)
        if written is None:
            rs["spec"]["replicas"] = before
            return rs
        direction = "up" if replicas > before else "down"
        self.events.record(deployment, "Normal", "ScalingReplicaSet",
                           f"Scaled {direction} replica set {rs['metadata']['name']} from {before} to {replicas}",
                           COMPONENT)
        return written

    def _rolling(self, deployment: Obj, new_rs: Obj, old: list[Obj]) -> None:
        scaled = self._scale(deployment, new_rs, self._new_rs_replicas(deployment, new_rs, old))
        new_rs.update(scaled)
        replicas = int(deployment["spec"].get("replicas", 1))
        _, max_unavailable = surge_and_unavailable(deployment)
        old_active = [rs for rs in old if _replicas(rs) > 0]
        if not old_active:
            return
        all_rs = [new_rs] + old
        min_available = replicas - max_unavailable
        new_unavailable = _replicas(new_rs) - _status_int(new_rs, "availableReplicas")
        max_scaled_down = sum(_replicas(rs) for rs in all_rs) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return
        # First drop old pods that are not available anyway, oldest ReplicaSet first.
        for rs in sorted(old_active, key=lambda r: r["metadata"].get("creationTimestamp", "")):
            if max_scaled_down <= 0:
                break
            unhealthy = _replicas(rs) - _status_int(rs, "availableReplicas")
            cut = min(max_scaled_down, unhealthy)
            if cut > 0:
                rs.update(self._scale(deployment, rs, _replicas(rs) - cut))
                max_scaled_down -= cut
        available = sum(_status_int(rs, "availableReplicas") for rs in all_rs)
        budget = min(available - min_available, max_scaled_down)
        for rs in sorted(old_active, key=lambda r: r["metadata"].get("creationTimestamp", "")):
            if budget <= 0:
                break
            cut = min(_replicas(rs), budget)
            if cut > 0:
                rs.update(self._scale(deployment, rs, _replicas(rs) - cut))
                budget -= cut

    def _recreate(self, deployment: Obj, new_rs: Obj, old: list[Obj]) -> None:
        for rs in old:
            if _replicas(rs):
                rs.update(self._scale(deployment, rs, 0))
        if any(_status_int(rs, "replicas") for rs in old):
            return
        new_rs.update(self._scale(deployment, new_rs, int(deployment["spec"].get("replicas", 1))))

    def _cleanup(self, deployment: Obj, old: list[Obj]) -> None:
        limit = int(deployment["spec"].get("revisionHistoryLimit", 10))
        idle = [rs for rs in old if _replicas(rs) == 0 and _status_int(rs, "replicas") == 0]
        excess = len(idle) - limit
        for rs in sorted(idle, key=revision_of)[: max(excess, 0)]:
            try:
                self.store.delete(self.resources.replicasets, rs["metadata"]["namespace"], rs["metadata"]["name"])
            except ApiError:
                continue

    # --- status -----------------------------------------------------------------------------------

    def _update_status(self, deployment: Obj, new_rs: Obj | None, old: list[Obj], *, created: bool = False,
                       paused: bool = False) -> None:
        fresh = self.store.try_get(self.resources.deployments, deployment["metadata"]["namespace"],
                                   deployment["metadata"]["name"])
        if fresh is None:
            return
        all_rs = ([new_rs] if new_rs else []) + old
        previous = fresh.get("status") or {}
        replicas = int(fresh["spec"].get("replicas", 1))
        _, max_unavailable = surge_and_unavailable(fresh)
        status: Obj = {
            "observedGeneration": fresh["metadata"].get("generation", 1),
            "replicas": sum(_status_int(rs, "replicas") for rs in all_rs),
            "updatedReplicas": _status_int(new_rs, "replicas") if new_rs else 0,
            "readyReplicas": sum(_status_int(rs, "readyReplicas") for rs in all_rs),
            "availableReplicas": sum(_status_int(rs, "availableReplicas") for rs in all_rs),
            "conditions": copy.deepcopy(previous.get("conditions") or []),
        }
        total_spec = sum(_replicas(rs) for rs in all_rs)
        status["unavailableReplicas"] = max(total_spec - status["availableReplicas"], 0)
        if previous.get("collisionCount"):
            status["collisionCount"] = previous["collisionCount"]
        now_dt = self.clock.now()
        now = rfc3339(now_dt)
        available_ok = status["availableReplicas"] >= replicas - max_unavailable
        self._set(status, "Available", available_ok,
                  "MinimumReplicasAvailable" if available_ok else "MinimumReplicasUnavailable",
                  "Deployment has minimum availability." if available_ok
                  else "Deployment does not have minimum availability.", now)
        self._progressing(fresh, status, previous, new_rs, created, paused, now_dt)
        for key in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"):
            if not status[key]:
                del status[key]
        if status != previous:
            fresh["status"] = status
            safe_write(self.store, self.resources.deployments, fresh, status=True, manager=COMPONENT)

    def _progressing(self, deployment: Obj, status: Obj, previous: Obj, new_rs: Obj | None, created: bool,
                     paused: bool, now_dt: Any) -> None:
        now = rfc3339(now_dt)
        current = get_condition(status, "Progressing")
        name = new_rs["metadata"]["name"] if new_rs else ""
        replicas = int(deployment["spec"].get("replicas", 1))
        if paused:
            self._set(status, "Progressing", None, "DeploymentPaused", "Deployment is paused", now, refresh=False)
            return
        complete = (
            new_rs is not None
            and status.get("updatedReplicas", 0) == replicas
            and status.get("replicas", 0) == replicas
            and status.get("availableReplicas", 0) == replicas
        )
        if complete:
            self._set(status, "Progressing", True, "NewReplicaSetAvailable",
                      f'ReplicaSet "{name}" has successfully progressed.', now, refresh=False)
            return
        if created:
            self._set(status, "Progressing", True, "NewReplicaSetCreated", f'Created new replica set "{name}"', now)
            return
        progressed = (
            status.get("updatedReplicas", 0) > int(previous.get("updatedReplicas") or 0)
            or status.get("readyReplicas", 0) > int(previous.get("readyReplicas") or 0)
            or status.get("availableReplicas", 0) > int(previous.get("availableReplicas") or 0)
            or (int(previous.get("replicas") or 0) - int(previous.get("updatedReplicas") or 0))
            > (status.get("replicas", 0) - status.get("updatedReplicas", 0))
            or int(previous.get("observedGeneration") or 0) < status["observedGeneration"]
            or current is None
            or current.get("reason") == "NewReplicaSetAvailable"
        )
        if progressed:
            self._set(status, "Progressing", True, "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.', now)
            return
        deadline = deployment["spec"].get("progressDeadlineSeconds")
        if deadline is None or current is None or current.get("reason") == "ProgressDeadlineExceeded":
            return
        last = parse_rfc3339(current.get("lastUpdateTime") or now)
        if now_dt > last + timedelta(seconds=int(deadline)):
            self._set(status, "Progressing", False, "ProgressDeadlineExceeded",
                      f'ReplicaSet "{name}" has timed out progressing.', now)
            self.events.record(deployment, "Warning", "ProgressDeadlineExceeded",
                               f'ReplicaSet "{name}" has timed out progressing.', COMPONENT)

    @staticmethod
    def _set(status: Obj, kind: str, ok: bool | None, reason: str, message: str, now: str,
             refresh: bool = True) -> None:
        """Set a condition; ``lastTransitionTime`` moves only when the status flips, ``lastUpdateTime`` when
        the reason changes or ``refresh`` (progress was made)."""
        value = "Unknown" if ok is None else ("True" if ok else "False")
        existing = get_condition(status, kind)
        unchanged = existing and existing.get("status") == value and existing.get("reason") == reason
        if unchanged and not refresh and existing.get("message") == message:
            return
        condition = {
            "type": kind,
            "status": value,
            "lastUpdateTime": now,
            "lastTransitionTime": existing["lastTransitionTime"] if existing and existing.get("status") == value
            else now,
            "reason": reason,
            "message": message,
        }
        if existing and kind == "Available" and existing.get("status") == value and existing.get("reason") == reason:
            condition["lastUpdateTime"] = existing.get("lastUpdateTime", now)
        set_condition(status, condition)
