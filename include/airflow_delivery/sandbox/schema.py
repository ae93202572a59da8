"""The little schema knowledge strategic merge patch and server-side apply need: how lists merge.

Kubernetes declares, per list field, whether it is a map keyed by some fields (``containers`` by
``name``), a set of scalars (``finalizers``) or atomic (replaced as a whole). The sandbox has no
OpenAPI schema, so it recognises list fields by the tail of their path of field names, longest match
first; anything unknown is atomic, which is also what Kubernetes does for custom resources.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class ListType:
    kind: Literal["map", "set", "atomic"]
    patch_merge_key: str | None = None
    """The single key strategic merge patch uses (``patchMergeKey``)."""
    keys: tuple[str, ...] = ()
    """The keys server-side apply uses (``x-kubernetes-list-map-keys``)."""
    key_defaults: dict[str, Any] = field(default_factory=dict)
    """Defaults for key fields left out by the client (``protocol: TCP``)."""


ATOMIC = ListType("atomic")
SET = ListType("set")


def _map(key: str, *keys: str, **defaults: Any) -> ListType:
    return ListType("map", key, tuple(keys) or (key,), dict(defaults))


# Path suffix (field names only) -> list type. Longest matching suffix wins.
LIST_TYPES: dict[tuple[str, ...], ListType] = {
    ("containers",): _map("name"),
    ("initContainers",): _map("name"),
    ("ephemeralContainers",): _map("name"),
    ("containers", "ports"): _map("containerPort", "containerPort", "protocol", protocol="TCP"),
    ("initContainers", "ports"): _map("containerPort", "containerPort", "protocol", protocol="TCP"),
    ("spec", "ports"): _map("port", "port", "protocol", protocol="TCP"),
    ("env",): _map("name"),
    ("volumeMounts",): _map("mountPath"),
    ("volumeDevices",): _map("devicePath"),
    ("volumes",): _map("name"),
    ("imagePullSecrets",): _map("name"),
    ("hostAliases",): _map("ip"),
    ("resourceClaims",): _map("name"),
    ("conditions",): _map("type"),
    ("ownerReferences",): _map("uid"),
    ("topologySpreadConstraints",): _map("topologyKey", "topologyKey", "whenUnsatisfiable"),
    ("finalizers",): SET,
}


def list_type(path: Sequence[str]) -> ListType:
    """The list type of the list field at ``path`` (field names from the object root)."""
    for length in range(min(len(path), 3), 0, -1):
        found = LIST_TYPES.get(tuple(path[-length:]))
        if found is not None:
            return found
    return ATOMIC


def item_key(item: Any, lt: ListType) -> tuple[Any, ...] | None:
    """The identity of a list-map item under server-side apply keys (``None`` if not a mapping)."""
    if not isinstance(item, dict):
        return None
    return tuple(item.get(k, lt.key_defaults.get(k)) for k in lt.keys)
