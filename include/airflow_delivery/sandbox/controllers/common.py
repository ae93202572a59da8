"""Helpers shared by the controllers: resources, ownership, conditions, safe writes."""

from __future__ import annotations

import logging
from typing import Any

from airflow_delivery.sandbox.errors import ApiError, Conflict, NotFound
from airflow_delivery.sandbox.resources import Resource, ResourceRegistry
from airflow_delivery.sandbox.store import ObjectStore

log = logging.getLogger("airflow_delivery.sandbox.controllers")

Obj = dict[str, Any]


class Resources:
    """The resources controllers touch, looked up once."""

    def __init__(self, registry: ResourceRegistry) -> None:
        self.pods = registry.get("", "v1", "pods")
        self.services = registry.get("", "v1", "services")
        self.endpoints = registry.get("", "v1", "endpoints")
        self.events = registry.get("", "v1", "events")
        self.deployments = registry.get("apps", "v1", "deployments")
        self.replicasets = registry.get("apps", "v1", "replicasets")
        self.jobs = registry.get("batch", "v1", "jobs")


def controller_ref(owner: Obj) -> Obj:
    md = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": md["name"],
        "uid": md["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controlled_by(obj: Obj, owner_uid: str) -> bool:
    return any(
        ref.get("uid") == owner_uid and ref.get("controller")
        for ref in obj["metadata"].get("ownerReferences") or []
    )


def deleting(obj: Obj) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def get_condition(status: Obj, kind: str) -> Obj | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def set_condition(status: Obj, condition: Obj) -> None:
    """Replace the condition of the same type in place (clients show conditions in list order)."""
    conditions = list(status.get("conditions") or [])
    for index, existing in enumerate(conditions):
        if existing.get("type") == condition["type"]:
            conditions[index] = condition
            break
    else:
        conditions.append(condition)
    status["conditions"] = conditions


def safe_write(store: ObjectStore, resource: Resource, obj: Obj, *, status: bool = False,
               manager: str = "sandbox-controller") -> Obj | None:
    """Write, treating conflicts and vanished objects as "try again next loop" (controllers are level-based)."""
    try:
        return store.update(resource, obj, subresource="status" if status else "", manager=manager)
    except (Conflict, NotFound):
        return None
    except ApiError as err:
        log.warning("sandbox controller could not write %s %s: %s", resource.kind,
                    obj.get("metadata", {}).get("name"), err.message)
        return None
