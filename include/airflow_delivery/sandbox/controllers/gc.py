"""The garbage collector: deletes dependents whose owners are gone (Background propagation) and finishes
Foreground deletions (dependents first, then the owner's ``foregroundDeletion`` finalizer is removed)."""

from __future__ import annotations

from airflow_delivery.sandbox.controllers.common import Obj, safe_write
from airflow_delivery.sandbox.errors import ApiError
from airflow_delivery.sandbox.resources import Resource
from airflow_delivery.sandbox.store import ObjectStore

FOREGROUND = "foregroundDeletion"


class GarbageCollector:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._last_rv = -1

    def reconcile(self) -> None:
        rv = self.store.resource_version
        if rv == self._last_rv:
            return
        self._last_rv = rv
        objects = list(self.store.all_objects())
        uids = {obj["metadata"]["uid"] for _, obj in objects}
        dependents: dict[str, list[tuple[Resource, Obj]]] = {}
        for resource, obj in objects:
            for ref in obj["metadata"].get("ownerReferences") or []:
                dependents.setdefault(ref.get("uid", ""), []).append((resource, obj))
        for resource, obj in objects:
            md = obj["metadata"]
            refs = md.get("ownerReferences") or []
            if refs and not any(ref.get("uid") in uids for ref in refs):
                self._delete(resource, obj, "Background")
                continue
            if md.get("deletionTimestamp") and FOREGROUND in (md.get("finalizers") or []):
                children = dependents.get(md["uid"], [])
                if children:
                    for child_resource, child in children:
                        if not child["metadata"].get("deletionTimestamp"):
                            self._delete(child_resource, child, "Foreground")
                else:
                    md["finalizers"] = [f for f in md["finalizers"] if f != FOREGROUND]
                    safe_write(self.store, resource, obj, manager="garbage-collector")

    def _delete(self, resource: Resource, obj: Obj, propagation: str) -> None:
        md = obj["metadata"]
        try:
            self.store.delete(resource, md.get("namespace", ""), md["name"], propagation=propagation,
                              preconditions={"uid": md["uid"]})
        except ApiError:
            pass
