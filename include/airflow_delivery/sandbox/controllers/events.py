"""Event recording, the way controllers and the kubelet report what they did (``kubectl describe`` shows
these). Repeats of the same reason and message on the same object are aggregated with a ``count``."""

from __future__ import annotations

import threading

from airflow_delivery.sandbox.clock import Clock, rfc3339
from airflow_delivery.sandbox.controllers.common import Obj, Resources
from airflow_delivery.sandbox.errors import ApiError
from airflow_delivery.sandbox.store import ObjectStore, random_suffix


class EventRecorder:
    def __init__(self, store: ObjectStore, resources: Resources, clock: Clock) -> None:
        self.store = store
        self.resources = resources
        self.clock = clock
        self._lock = threading.Lock()
        self._names: dict[tuple[str, str, str], str] = {}

    def record(self, obj: Obj, type_: str, reason: str, message: str, component: str) -> None:
        md = obj["metadata"]
        namespace = md.get("namespace") or "default"
        now = rfc3339(self.clock.now())
        key = (md.get("uid", ""), reason, message)
        with self._lock:
            name = self._names.get(key)
            if name is not None:
                existing = self.store.try_get(self.resources.events, namespace, name)
                if existing is not None:
                    existing["count"] = int(existing.get("count") or 1) + 1
                    existing["lastTimestamp"] = now
                    try:
                        self.store.update(self.resources.events, existing, manager=component)
                        return
                    except ApiError:
                        pass
            name = f"{md['name']}.{random_suffix(10)}"
            self._names[key] = name
        event = {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion"),
                "kind": obj.get("kind"),
                "name": md["name"],
                "namespace": namespace,
                "uid": md.get("uid"),
                "resourceVersion": md.get("resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": component,
            "reportingInstance": "",
        }
        try:
            self.store.create(self.resources.events, event, manager=component)
        except ApiError:
            pass  # the namespace is being deleted: nobody will read this event

    def forget(self, uid: str) -> None:
        with self._lock:
            for key in [k for k in self._names if k[0] == uid]:
                del self._names[key]
