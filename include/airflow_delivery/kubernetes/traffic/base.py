"""The traffic-router interface, its value types, and the one read-modify-write helper routers share.

A router moves a canary's share of traffic with a mechanism of the mesh or ingress in front of the
service (argo-rollouts' ``TrafficRoutingReconciler``, flagger's ``Interface``), so a canary no longer
depends on pod counts. Each router is one module computing the desired object change as PURE
functions of the live object, plus a small class applying it through ``ObjectClient``, the narrow
part of ``DeliveryKubernetesHook`` it needs (read, patch). Nothing here imports Airflow or the
Kubernetes client.

Writes are optimistic: read the object, compute a merge patch carrying the ``resourceVersion`` that
was read, send it; a 409 means someone changed the object meanwhile, so read and compute again
(``update_object``). A router never overwrites a concurrent edit it has not seen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from airflow_delivery.kubernetes.errors import ConflictError

Obj = dict[str, Any]
Role = Literal["stable", "baseline", "canary"]
ROLES: tuple[str, ...] = ("stable", "baseline", "canary")
Capability = Literal["split", "baseline", "header", "cookie"]
"""``split``: any weights (not only 0/100); ``baseline``: a third backend; ``header``/``cookie``: routes."""

TRAFFIC_FIELD_MANAGER = "airflow-delivery-traffic"
MANAGED_PREFIX = "airflow-delivery-"
"""Name prefix of the routes/rules a router adds (header and cookie routes), so it can remove them."""
UPDATE_ATTEMPTS = 5


class TrafficError(Exception):
    """A traffic change could not be made; the message names the object and what to change."""


class RouterConfigError(TrafficError, ValueError):
    """Router options are wrong (unknown key, missing backend, bad weights)."""


class UnsupportedTrafficError(TrafficError, ValueError):
    """The router cannot do what was asked (a weighted split with a Service selector, a header route...)."""


class TrafficVerificationError(TrafficError):
    """The object read back does not route traffic as it was just set."""


@dataclass(frozen=True)
class Weights:
    """Traffic percentages per role; they sum to 100. ``baseline`` is optional (Kayenta-style canaries)."""

    stable: int
    canary: int
    baseline: int | None = None

    def __post_init__(self) -> None:
        for role, value in self.items():
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                raise RouterConfigError(f"weight of {role} must be an integer percentage 0-100, got {value!r}")
        total = sum(v for _, v in self.items())
        if total != 100:
            raise RouterConfigError(f"weights must add up to 100, got {self.as_dict()} (total {total})")

    @classmethod
    def parse(cls, value: Mapping[str, Any]) -> Weights:
        """From ``{"stable": 90, "canary": 10}`` (optionally ``baseline``); errors name unknown roles."""
        if not isinstance(value, Mapping):
            raise RouterConfigError(f"weights must be a mapping of role to percentage, got {type(value).__name__}")
        unknown = sorted(set(value) - set(ROLES))
        if unknown:
            raise RouterConfigError(f"unknown traffic roles {unknown}; valid roles are {list(ROLES)}")
        missing = [r for r in ("stable", "canary") if r not in value]
        if missing:
            raise RouterConfigError(f"weights need {missing} as well (got {dict(value)}); use 0 for no traffic")
        return cls(stable=_int(value["stable"], "stable"), canary=_int(value["canary"], "canary"),
                   baseline=None if value.get("baseline") is None else _int(value["baseline"], "baseline"))

    @classmethod
    def canary_percent(cls, canary: int) -> Weights:
        return cls(stable=100 - canary, canary=canary)

    def items(self) -> list[tuple[str, int]]:
        pairs = [("stable", self.stable)]
        if self.baseline is not None:
            pairs.append(("baseline", self.baseline))
        pairs.append(("canary", self.canary))
        return pairs

    def as_dict(self) -> dict[str, int]:
        return dict(self.items())

    def get(self, role: str) -> int:
        return dict(self.items()).get(role, 0)

    @property
    def is_split(self) -> bool:
        """True when more than one role gets traffic."""
        return sum(1 for _, v in self.items() if v) > 1


def _int(value: Any, role: str) -> int:
    if isinstance(value, bool):
        raise RouterConfigError(f"weight of {role} must be an integer percentage 0-100, got {value!r}")
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())  # templated values arrive as strings
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int):
        raise RouterConfigError(f"weight of {role} must be an integer percentage 0-100, got {value!r}")
    return value


@dataclass(frozen=True)
class HeaderRoute:
    """Requests carrying header ``name`` with exactly ``value`` go to the canary (testers, QA)."""

    name: str
    value: str

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise RouterConfigError(f"a header route needs a header name, got {self.name!r}")
        if not isinstance(self.value, str) or not self.value:
            raise RouterConfigError(f"header route {self.name!r} needs a non-empty string value, got {self.value!r}")


@dataclass(frozen=True)
class CookieRoute:
    """Sticky per-user canary: requests whose cookie ``name`` is ``always`` go to the canary.

    NGINX's ``canary-by-cookie`` semantics (``never`` pins a user to stable); the edge or the app sets
    the cookie for the users in the canary cohort, so each user keeps seeing the same version.
    """

    name: str

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str) or any(c in self.name for c in ";= ,"):
            raise RouterConfigError(f"cookie name {self.name!r} must be a non-empty token without ';', '=', ',' "
                                    "or spaces")

    @property
    def header_regex(self) -> str:
        """A ``Cookie`` header regex matching ``name=always`` among other cookies."""
        return rf"^(.*?;\s*)?{self.name}=always(;.*)?$"


@runtime_checkable
class ObjectClient(Protocol):
    """What routers need from Kubernetes; ``DeliveryKubernetesHook`` satisfies it."""

    def get(self, kind: str, name: str, namespace: str | None = None, *, api_version: str | None = None) -> Obj: ...

    def patch(self, kind: str, name: str, namespace: str | None, patch: Any, patch_type: Any = "strategic", *,
              api_version: str | None = None, field_manager: str | None = ..., dry_run: bool = False) -> Obj: ...


class TrafficRouter(Protocol):
    """One traffic mechanism. ``verify_weights`` returns ``None`` when the router cannot check."""

    TYPE: ClassVar[str]
    CAPABILITIES: ClassVar[frozenset[str]]

    def set_weights(self, weights: Weights) -> None: ...

    def set_header_route(self, route: HeaderRoute) -> None: ...

    def set_cookie_route(self, route: CookieRoute) -> None: ...

    def verify_weights(self, weights: Weights) -> bool | None: ...

    def remove_managed_routes(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...


class NopRouter:
    """No traffic management (e.g. a canary judged on pod-count split): every call does nothing."""

    TYPE: ClassVar[str] = "none"
    CAPABILITIES: ClassVar[frozenset[str]] = frozenset({"split", "baseline", "header", "cookie"})

    def __init__(self, client: ObjectClient | None = None, options: Mapping[str, Any] | None = None) -> None:
        if options:
            raise RouterConfigError(f"router 'none' takes no options, got {sorted(options)}")

    def set_weights(self, weights: Weights) -> None:
        return None

    def set_header_route(self, route: HeaderRoute) -> None:
        return None

    def set_cookie_route(self, route: CookieRoute) -> None:
        return None

    def verify_weights(self, weights: Weights) -> bool | None:
        return None

    def remove_managed_routes(self) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"router": self.TYPE}


def require(router: TrafficRouter, capability: str, what: str) -> None:
    """Fail before touching the cluster when ``router`` cannot do ``what``."""
    if capability not in router.CAPABILITIES:
        from airflow_delivery.kubernetes.traffic.registry import routers_with

        able = ", ".join(routers_with(capability)) or "none"
        raise UnsupportedTrafficError(f"router '{router.TYPE}' cannot {what}; routers that can: {able}")


def options_of(cls_name: str, options: Mapping[str, Any] | None, required: tuple[str, ...],
               optional: tuple[str, ...]) -> dict[str, Any]:
    """Router options as a dict, refusing unknown keys and naming missing ones."""
    options = dict(options or {})
    valid = set(required) | set(optional)
    unknown = sorted(set(options) - valid)
    if unknown:
        raise RouterConfigError(f"unknown {cls_name} router options {unknown}; valid options are {sorted(valid)}")
    missing = [k for k in required if options.get(k) in (None, "")]
    if missing:
        raise RouterConfigError(f"{cls_name} router needs options {missing}")
    return options


def update_object(
    client: ObjectClient,
    *,
    kind: str,
    name: str,
    namespace: str | None,
    api_version: str,
    change: Callable[[Obj], Obj | None],
    field_manager: str = TRAFFIC_FIELD_MANAGER,
    attempts: int = UPDATE_ATTEMPTS,
) -> Obj:
    """Read, ``change(live)`` into a merge patch (``None``: nothing to do), patch guarded by resourceVersion.

    A 409 (someone wrote in between) re-reads and recomputes, up to ``attempts`` times. Returns the
    object as it is afterwards.
    """
    last: ConflictError | None = None
    for _ in range(attempts):
        live = client.get(kind, name, namespace, api_version=api_version)
        patch = change(live)
        if patch is None:
            return live
        version = (live.get("metadata") or {}).get("resourceVersion")
        guarded = {**patch, "metadata": {**(patch.get("metadata") or {}), "resourceVersion": version}}
        try:
            return client.patch(kind, name, namespace, guarded, "merge", api_version=api_version,
                                field_manager=field_manager)
        except ConflictError as conflict:
            last = conflict
    raise TrafficError(f"{kind} {namespace}/{name} kept changing while its traffic was updated ({attempts} attempts); "
                       "another controller may be fighting over it") from last
