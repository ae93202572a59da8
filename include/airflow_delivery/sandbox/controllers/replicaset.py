"""The ReplicaSet controller: keeps ``spec.replicas`` pods alive and reports how many are ready/available."""

from __future__ import annotations

import copy

from airflow_delivery.sandbox.clock import Clock, parse_rfc3339
from airflow_delivery.sandbox.controllers.common import (
    Obj,
    Resources,
    controlled_by,
    controller_ref,
    deleting,
    get_condition,
    safe_write,
)
from airflow_delivery.sandbox.controllers.events import EventRecorder
from airflow_delivery.sandbox.errors import ApiError
from airflow_delivery.sandbox.store import ObjectStore, random_suffix

COMPONENT = "replicaset-controller"


def pod_ready(pod: Obj) -> bool:
    condition = get_condition(pod.get("status") or {}, "Ready")
    return bool(condition and condition.get("status") == "True") and not deleting(pod)


def pod_available(pod: Obj, min_ready_seconds: int, clock: Clock) -> bool:
    if not pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    condition = get_condition(pod["status"], "Ready") or {}
    since = condition.get("lastTransitionTime")
    return bool(since) and (clock.now() - parse_rfc3339(since)).total_seconds() >= min_ready_seconds


def pod_from_template(owner: Obj, template: Obj, name_prefix: str) -> Obj:
    template_md = template.get("metadata") or {}
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{name_prefix}{random_suffix()}",
            "generateName": name_prefix,
            "namespace": owner["metadata"]["namespace"],
            "labels": copy.deepcopy(template_md.get("labels") or {}),
            "ownerReferences": [controller_ref(owner)],
        },
        "spec": copy.deepcopy(template.get("spec") or {}),
    }
    if template_md.get("annotations"):
        pod["metadata"]["annotations"] = copy.deepcopy(template_md["annotations"])
    return pod


class ReplicaSetController:
    def __init__(self, store: ObjectStore, resources: Resources, clock: Clock, events: EventRecorder) -> None:
        self.store = store
        self.resources = resources
        self.clock = clock
        self.events = events

    def reconcile(self) -> None:
        replicasets, _ = self.store.list(self.resources.replicasets)
        if not replicasets:
            return
        all_pods, _ = self.store.list(self.resources.pods)
        for rs in replicasets:
            if deleting(rs):
                continue
            uid = rs["metadata"]["uid"]
            pods = [p for p in all_pods if controlled_by(p, uid) and not deleting(p)]
            self._scale(rs, pods)

    def _scale(self, rs: Obj, pods: list[Obj]) -> None:
        md = rs["metadata"]
        wanted = int(rs["spec"].get("replicas", 1))
        if len(pods) < wanted:
            for _ in range(wanted - len(pods)):
                pod = pod_from_template(rs, rs["spec"].get("template") or {}, f"{md['name']}-")
                try:
                    created = self.store.create(self.resources.pods, pod, manager=COMPONENT)
                except ApiError as err:
                    self.events.record(rs, "Warning", "FailedCreate", f"Error creating: {err.message}", COMPONENT)
                    break
                pods.append(created)
                self.events.record(rs, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}",
                                   COMPONENT)
        elif len(pods) > wanted:
            # Delete the least useful first: not ready, then the newest.
            newest_first = sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True)
            victims = sorted(newest_first, key=pod_ready)[: len(pods) - wanted]
            for pod in victims:
                try:
                    self.store.delete(self.resources.pods, md["namespace"], pod["metadata"]["name"])
                except ApiError:
                    continue
                pods.remove(pod)
                self.events.record(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}",
                                   COMPONENT)
        self._status(rs, pods)

    def _status(self, rs: Obj, pods: list[Obj]) -> None:
        min_ready = int(rs["spec"].get("minReadySeconds") or 0)
        labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        status = {
            "replicas": len(pods),
            "fullyLabeledReplicas": sum(
                1 for p in pods if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
            ),
            "readyReplicas": sum(1 for p in pods if pod_ready(p)),
            "availableReplicas": sum(1 for p in pods if pod_available(p, min_ready, self.clock)),
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        if (rs.get("status") or {}) != status:
            rs["status"] = status
            safe_write(self.store, self.resources.replicasets, rs, status=True, manager=COMPONENT)
