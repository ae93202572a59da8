"""The object store: every object the sandbox holds, with Kubernetes' bookkeeping and watch fan-out.

One lock guards everything; each successful write bumps one global ``resourceVersion`` counter, stamps
the object, records a watch event in a bounded history (for ``?watch=true&resourceVersion=N`` resume)
and hands the event to every live watcher. Writers that send a ``metadata.resourceVersion`` get a 409
when it is stale (optimistic concurrency, as in Kubernetes). Defaulting and validation are delegated to
an ``admission`` callable so controllers and API clients go through the same rules.
"""

from __future__ import annotations

import copy
import queue
import random
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from airflow_delivery.sandbox.apply import record_update
from airflow_delivery.sandbox.clock import Clock, rfc3339
from airflow_delivery.sandbox.errors import AlreadyExists, BadRequest, Conflict, Gone, Invalid, NotFound
from airflow_delivery.sandbox.resources import Resource, ResourceRegistry

Obj = dict[str, Any]
EventType = Literal["ADDED", "MODIFIED", "DELETED"]
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
NAMESPACES_KEY = ("", "namespaces")


class Admission(Protocol):
    """Defaults and validates an object before it is stored (raises ``Invalid``)."""

    def __call__(self, resource: Resource, new: Obj, old: Obj | None) -> None: ...


def _no_admission(resource: Resource, new: Obj, old: Obj | None) -> None:
    return None


@dataclass(frozen=True)
class StoreEvent:
    resource_version: int
    storage_key: tuple[str, str]
    namespace: str
    type: EventType
    object: Obj
    old: Obj | None


@dataclass(eq=False)
class Watcher:
    """One open watch: events arrive on ``events``; ``None`` means the store closed it."""

    storage_key: tuple[str, str]
    namespace: str | None
    events: queue.Queue[StoreEvent | None] = field(default_factory=queue.Queue)


def random_suffix(length: int = 5) -> str:
    return "".join(random.choice(NAME_ALPHABET) for _ in range(length))


def meta(obj: Obj) -> dict[str, Any]:
    """``obj.metadata``, created if missing."""
    return obj.setdefault("metadata", {})


def _spec_part(obj: Obj | None) -> Obj:
    return {k: v for k, v in (obj or {}).items() if k not in ("metadata", "status", "apiVersion", "kind")}


class ObjectStore:
    """Thread-safe storage of Kubernetes objects keyed by ``(resource storage key, namespace, name)``."""

    def __init__(
        self,
        registry: ResourceRegistry,
        *,
        clock: Clock | None = None,
        admission: Admission = _no_admission,
        history: int = 20000,
    ) -> None:
        self.registry = registry
        self.clock = clock or Clock()
        self.admission = admission
        self.lock = threading.RLock()
        self._objects: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {}
        self._by_uid: dict[str, tuple[Resource, str, str]] = {}
        self._rv = 0
        self._history: deque[StoreEvent] = deque(maxlen=history)
        self._history_floor = 0
        self._watchers: set[Watcher] = set()
        self.changed = threading.Event()
        """Set on every write; controllers wait on it."""

    # --- reads ----------------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        with self.lock:
            return self._rv

    def get(self, resource: Resource, namespace: str, name: str) -> Obj:
        with self.lock:
            obj = self._objects.get(resource.storage_key, {}).get((self._ns(resource, namespace), name))
            if obj is None:
                raise NotFound(
                    f'{resource.qualified_name} "{name}" not found',
                    name=name,
                    group=resource.group,
                    kind=resource.plural,
                )
            return self._out(resource, obj)

    def try_get(self, resource: Resource, namespace: str, name: str) -> Obj | None:
        try:
            return self.get(resource, namespace, name)
        except NotFound:
            return None

    def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        matcher: Callable[[Obj], bool] | None = None,
    ) -> tuple[list[Obj], int]:
        """Objects of ``resource`` (in ``namespace`` if given), sorted by namespace/name, and the list RV."""
        with self.lock:
            bucket = self._objects.get(resource.storage_key, {})
            items = [
                self._out(resource, obj)
                for (ns, _), obj in sorted(bucket.items())
                if (namespace is None or ns == namespace) and (matcher is None or matcher(obj))
            ]
            return items, self._rv

    def find_uid(self, uid: str) -> tuple[Resource, str, str] | None:
        with self.lock:
            return self._by_uid.get(uid)

    def all_objects(self) -> Iterator[tuple[Resource, Obj]]:
        """A snapshot of every object with the resource that stores it (for the garbage collector)."""
        with self.lock:
            snapshot = []
            for bucket in self._objects.values():
                for obj in bucket.values():
                    located = self._by_uid.get(obj["metadata"].get("uid", ""))
                    if located is not None:
                        snapshot.append((located[0], self._out(located[0], obj)))
        yield from snapshot

    def namespace_exists(self, namespace: str) -> bool:
        with self.lock:
            return ("", namespace) in self._objects.get(NAMESPACES_KEY, {})

    # --- writes ---------------------------------------------------------------------------------------

    def create(
        self,
        resource: Resource,
        obj: Obj,
        *,
        manager: str = "sandbox",
        dry_run: bool = False,
        managed_fields: list[Obj] | None = None,
    ) -> Obj:
        with self.lock:
            obj = copy.deepcopy(obj)
            md = meta(obj)
            if not isinstance(md, dict):
                raise BadRequest("metadata must be an object")
            if not md.get("name") and md.get("generateName"):
                md["name"] = self._generate_name(resource, md.get("namespace", ""), md["generateName"])
            name = md.get("name")
            if not name:
                raise Invalid(
                    f"{resource.kind}.{resource.group or 'core'} is invalid: metadata.name: Required value: "
                    "name or generateName is required",
                    kind=resource.kind,
                    group=resource.group,
                    causes=[{"field": "metadata.name", "reason": "FieldValueRequired", "message": "Required value"}],
                )
            namespace = self._ns(resource, md.get("namespace", ""))
            if resource.namespaced:
                md["namespace"] = namespace
                if not self.namespace_exists(namespace):
                    raise NotFound(f'namespaces "{namespace}" not found', name=namespace, kind="namespaces")
            else:
                md.pop("namespace", None)
            if (namespace, name) in self._objects.get(resource.storage_key, {}):
                raise AlreadyExists(
                    f'{resource.qualified_name} "{name}" already exists',
                    name=name,
                    group=resource.group,
                    kind=resource.plural,
                )
            obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
            for server_field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
                md.pop(server_field, None)
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = rfc3339(self.clock.now())
            md["generation"] = 1
            self.admission(resource, obj, None)
            md["managedFields"] = managed_fields if managed_fields is not None else record_update(
                None, obj, manager=manager, api_version=resource.api_version, now=md["creationTimestamp"]
            )
            if not md["managedFields"]:
                del md["managedFields"]
            if dry_run:
                return self._out(resource, obj)
            self._commit(resource, namespace, name, obj, None, "ADDED")
            return self._out(resource, obj)

    def update(
        self,
        resource: Resource,
        obj: Obj,
        *,
        manager: str = "sandbox",
        subresource: str = "",
        dry_run: bool = False,
        managed_fields: list[Obj] | None = None,
    ) -> Obj:
        """Replace an object. ``subresource="status"`` changes only status; the main resource keeps status
        when the resource has a status sub-resource. ``managed_fields`` overrides ownership (apply)."""
        with self.lock:
            obj = copy.deepcopy(obj)
            md = meta(obj)
            name = md.get("name")
            if not name:
                raise BadRequest("metadata.name is required to update an object")
            namespace = self._ns(resource, md.get("namespace", ""))
            stored = self._objects.get(resource.storage_key, {}).get((namespace, name))
            if stored is None:
                raise NotFound(
                    f'{resource.qualified_name} "{name}" not found', name=name, group=resource.group,
                    kind=resource.plural,
                )
            sent_rv = md.get("resourceVersion")
            if sent_rv and sent_rv != stored["metadata"]["resourceVersion"]:
                raise Conflict(
                    f'Operation cannot be fulfilled on {resource.qualified_name} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                    name=name,
                    group=resource.group,
                    kind=resource.plural,
                )
            old = stored
            new = self._merge_for_subresource(resource, old, obj, subresource)
            new["apiVersion"], new["kind"] = resource.api_version, resource.kind
            nmd = new["metadata"]
            for server_field in ("uid", "creationTimestamp", "generation", "deletionTimestamp",
                                 "deletionGracePeriodSeconds"):
                if server_field in old["metadata"]:
                    nmd[server_field] = old["metadata"][server_field]
                else:
                    nmd.pop(server_field, None)
            if resource.namespaced:
                nmd["namespace"] = namespace
            if old["metadata"].get("deletionTimestamp"):
                added = set(nmd.get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
                if added:
                    raise Invalid(f'{resource.kind} "{name}": no new finalizers can be added if the object is '
                                  "being deleted")
            if subresource != "status":
                self.admission(resource, new, old)
            if _spec_part(new) != _spec_part(old):
                nmd["generation"] = old["metadata"].get("generation", 1) + 1
            now = rfc3339(self.clock.now())
            if managed_fields is not None:
                nmd["managedFields"] = managed_fields
            else:
                nmd["managedFields"] = record_update(
                    old, new, manager=manager, api_version=resource.api_version, now=now, subresource=subresource
                )
            if not nmd["managedFields"]:
                del nmd["managedFields"]
            if _comparable(new) == _comparable(old):
                return self._out(resource, old)  # no-op writes do not bump resourceVersion, as in Kubernetes
            if dry_run:
                nmd["resourceVersion"] = old["metadata"]["resourceVersion"]
                return self._out(resource, new)
            if nmd.get("deletionTimestamp") and not nmd.get("finalizers"):
                self._remove(resource, namespace, name)
                return self._out(resource, new)
            self._commit(resource, namespace, name, new, old, "MODIFIED")
            return self._out(resource, new)

    def _merge_for_subresource(self, resource: Resource, old: Obj, obj: Obj, subresource: str) -> Obj:
        if subresource == "status":
            new = copy.deepcopy(old)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
            return new
        new = obj
        if resource.has_status:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        return new

    def delete(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        *,
        propagation: str | None = None,
        preconditions: dict[str, str] | None = None,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Delete an object; returns ``(object, gone_now)``.

        Objects with finalizers (or ``propagation="Foreground"``) get a ``deletionTimestamp`` and stay
        until their finalizers are removed. ``Orphan`` strips this owner from dependents' ownerReferences;
        ``Background`` (the default) leaves dependents to the garbage collector.
        """
        propagation = propagation or "Background"
        if propagation not in ("Background", "Foreground", "Orphan"):
            raise BadRequest(
                f"invalid propagationPolicy {propagation!r}; valid values are Background, Foreground, Orphan"
            )
        with self.lock:
            namespace = self._ns(resource, namespace)
            stored = self._objects.get(resource.storage_key, {}).get((namespace, name))
            if stored is None:
                raise NotFound(
                    f'{resource.qualified_name} "{name}" not found', name=name, group=resource.group,
                    kind=resource.plural,
                )
            smd = stored["metadata"]
            for key, actual in (("uid", smd.get("uid")), ("resourceVersion", smd.get("resourceVersion"))):
                wanted = (preconditions or {}).get(key)
                if wanted and wanted != actual:
                    raise Conflict(
                        f"Precondition failed: {key} in precondition: {wanted}, {key} in object meta: {actual}",
                        name=name, group=resource.group, kind=resource.plural,
                    )
            if dry_run:
                return self._out(resource, stored), False
            finalizers = list(smd.get("finalizers") or [])
            if propagation == "Orphan":
                self._orphan_dependents(smd["uid"])
            if propagation == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
            if finalizers:
                if smd.get("deletionTimestamp") and finalizers == smd.get("finalizers"):
                    return self._out(resource, stored), False
                new = copy.deepcopy(stored)
                new["metadata"]["finalizers"] = finalizers
                new["metadata"].setdefault("deletionTimestamp", rfc3339(self.clock.now()))
                new["metadata"].setdefault("deletionGracePeriodSeconds", 0)
                self._commit(resource, namespace, name, new, stored, "MODIFIED")
                return self._out(resource, new), False
            if resource.storage_key == NAMESPACES_KEY:
                self._delete_namespace_contents(name)
            removed = self._remove(resource, namespace, name)
            return self._out(resource, removed), True

    def _delete_namespace_contents(self, namespace: str) -> None:
        for key, bucket in list(self._objects.items()):
            for (ns, obj_name), obj in list(bucket.items()):
                if ns == namespace:
                    owner = self._by_uid.get(obj["metadata"]["uid"])
                    if owner is not None:
                        self._remove(owner[0], ns, obj_name)

    def _orphan_dependents(self, owner_uid: str) -> None:
        for bucket in self._objects.values():
            for obj in list(bucket.values()):
                refs = obj["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == owner_uid for r in refs):
                    located = self._by_uid[obj["metadata"]["uid"]]
                    new = copy.deepcopy(obj)
                    new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != owner_uid]
                    if not new["metadata"]["ownerReferences"]:
                        del new["metadata"]["ownerReferences"]
                    self._commit(located[0], located[1], located[2], new, obj, "MODIFIED")

    # --- watch ----------------------------------------------------------------------------------------

    def watch(self, resource: Resource, namespace: str | None, since: str | None) -> tuple[Watcher, list[StoreEvent]]:
        """Open a watch. Returns the watcher and the events to send first.

        ``since`` unset or ``"0"``: synthetic ADDED events for current objects, then changes.
        ``since=N``: every change after N (410 Expired when N is older than the kept history).
        """
        with self.lock:
            watcher = Watcher(resource.storage_key, namespace)
            initial: list[StoreEvent] = []
            if since in (None, "", "0"):
                items, _ = self.list(resource, namespace)
                for item in items:
                    initial.append(StoreEvent(self._rv, resource.storage_key, _ns_of(item), "ADDED", item, None))
            else:
                try:
                    start = int(since)
                except ValueError as exc:
                    raise BadRequest(f"invalid resourceVersion {since!r}: must be an integer") from exc
                if start < self._history_floor:
                    raise Gone(f"too old resource version: {start} ({self._history_floor})")
                for event in self._history:
                    if event.resource_version > start and self._wants(watcher, event):
                        initial.append(event)
            self._watchers.add(watcher)
            return watcher, initial

    def stop_watch(self, watcher: Watcher) -> None:
        with self.lock:
            self._watchers.discard(watcher)

    def close_all_watches(self) -> None:
        with self.lock:
            for watcher in self._watchers:
                watcher.events.put(None)
            self._watchers.clear()

    @staticmethod
    def _wants(watcher: Watcher, event: StoreEvent) -> bool:
        return event.storage_key == watcher.storage_key and (
            watcher.namespace is None or watcher.namespace == event.namespace
        )

    # --- internals ------------------------------------------------------------------------------------

    def _ns(self, resource: Resource, namespace: str | None) -> str:
        return (namespace or "default") if resource.namespaced else ""

    def _generate_name(self, resource: Resource, namespace: str, prefix: str) -> str:
        bucket = self._objects.get(resource.storage_key, {})
        ns = self._ns(resource, namespace)
        while True:
            candidate = f"{prefix}{random_suffix()}"
            if (ns, candidate) not in bucket:
                return candidate

    def _commit(self, resource: Resource, namespace: str, name: str, obj: Obj, old: Obj | None, kind: EventType) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._objects.setdefault(resource.storage_key, {})[(namespace, name)] = obj
        self._by_uid[obj["metadata"]["uid"]] = (resource, namespace, name)
        self._publish(StoreEvent(self._rv, resource.storage_key, namespace, kind, copy.deepcopy(obj),
                                 copy.deepcopy(old) if old else None))

    def _remove(self, resource: Resource, namespace: str, name: str) -> Obj:
        obj = self._objects[resource.storage_key].pop((namespace, name))
        self._by_uid.pop(obj["metadata"]["uid"], None)
        self._rv += 1
        removed = copy.deepcopy(obj)
        removed["metadata"]["resourceVersion"] = str(self._rv)
        self._publish(StoreEvent(self._rv, resource.storage_key, namespace, "DELETED", removed, obj))
        return removed

    def _publish(self, event: StoreEvent) -> None:
        if len(self._history) == self._history.maxlen:
            self._history_floor = self._history[0].resource_version
        self._history.append(event)
        for watcher in list(self._watchers):
            if self._wants(watcher, event):
                watcher.events.put(event)
        self.changed.set()

    def _out(self, resource: Resource, obj: Obj) -> Obj:
        result = copy.deepcopy(obj)
        result["apiVersion"], result["kind"] = resource.api_version, resource.kind
        return result


def _ns_of(obj: Obj) -> str:
    return obj.get("metadata", {}).get("namespace", "")


def _comparable(obj: Obj) -> Obj:
    """The object minus what a no-op write would change (resourceVersion, ownership timestamps)."""
    body = copy.deepcopy(obj)
    md = body.get("metadata", {})
    md.pop("resourceVersion", None)
    for entry in md.get("managedFields") or []:
        entry.pop("time", None)
    return body
