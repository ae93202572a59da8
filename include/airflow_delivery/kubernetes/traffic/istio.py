"""Istio: weights between destinations (host/subset) of one HTTP route of a VirtualService.

The VirtualService already exists (the deploy created it); the router only rewrites the ``weight`` of
the route's destinations and, for header/cookie canaries, adds its own routes in front of it (named
``airflow-delivery-...``, so ``remove_managed_routes`` finds them). Istio evaluates HTTP routes in
order, so a managed route sits right before the route it refines and repeats its ``match`` blocks
with the extra header condition: it never captures traffic the original route would not.

Destinations are matched by host and subset (and port when configured). A destination in the route
that is none of the configured roles is an error: its traffic share would silently change otherwise.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_delivery.kubernetes.traffic.base import (
    MANAGED_PREFIX,
    ROLES,
    TRAFFIC_FIELD_MANAGER,
    CookieRoute,
    HeaderRoute,
    ObjectClient,
    RouterConfigError,
    TrafficError,
    Weights,
    options_of,
    update_object,
)

Obj = dict[str, Any]
API_VERSION = "networking.istio.io/v1"
KIND = "VirtualService"


@dataclass(frozen=True)
class Destination:
    """An Istio route destination: a host, optionally a subset (DestinationRule) and a port."""

    host: str
    subset: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, role: str, value: Any) -> Destination:
        if isinstance(value, str):
            return cls(host=value)
        if not isinstance(value, Mapping) or not value.get("host"):
            raise RouterConfigError(f"istio destination for {role} must be a host or {{host, subset, port}}, "
                                    f"got {value!r}")
        unknown = sorted(set(value) - {"host", "subset", "port"})
        if unknown:
            raise RouterConfigError(f"istio destination for {role} has unknown keys {unknown}; valid: host, subset, port")
        port = value.get("port")
        return cls(host=str(value["host"]), subset=value.get("subset") or None,
                   port=int(port) if port is not None else None)

    def matches(self, destination: Mapping[str, Any]) -> bool:
        if destination.get("host") != self.host or (destination.get("subset") or None) != self.subset:
            return False
        live_port = (destination.get("port") or {}).get("number")
        return self.port is None or live_port is None or live_port == self.port

    def to_destination(self) -> Obj:
        out: Obj = {"host": self.host}
        if self.subset:
            out["subset"] = self.subset
        if self.port is not None:
            out["port"] = {"number": self.port}
        return out

    def __str__(self) -> str:
        return self.host + (f" subset {self.subset}" if self.subset else "")


@dataclass(frozen=True)
class IstioConfig:
    """Which VirtualService and route, and the destination of each role."""

    virtual_service: str
    destinations: Mapping[str, Destination]
    namespace: str | None = None
    route: str | None = None
    """Name of the HTTP route to weight; ``None``: the VirtualService's only route of our own."""
    api_version: str = API_VERSION
    field_manager: str = TRAFFIC_FIELD_MANAGER

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> IstioConfig:
        opts = options_of("istio", options, ("virtual_service", "stable", "canary"),
                          ("namespace", "route", "baseline", "api_version", "field_manager"))
        destinations = {role: Destination.parse(role, opts[role]) for role in ROLES if opts.get(role)}
        return cls(virtual_service=str(opts["virtual_service"]), destinations=destinations,
                   namespace=opts.get("namespace"), route=opts.get("route"),
                   api_version=opts.get("api_version") or API_VERSION,
                   field_manager=opts.get("field_manager") or TRAFFIC_FIELD_MANAGER)


# --- pure functions ----------------------------------------------------------------------------------


def _is_managed(route: Mapping[str, Any]) -> bool:
    return str(route.get("name") or "").startswith(MANAGED_PREFIX)


def find_route(http: Sequence[Mapping[str, Any]], route_name: str | None, where: str) -> int:
    """Index of the HTTP route to weight; errors list the routes there are."""
    names = [str(r.get("name") or f"#{i}") for i, r in enumerate(http)]
    if route_name is not None:
        for index, route in enumerate(http):
            if route.get("name") == route_name:
                return index
        raise TrafficError(f"{where} has no HTTP route named {route_name!r}; its routes are {names}")
    own = [i for i, r in enumerate(http) if not _is_managed(r)]
    if len(own) != 1:
        raise TrafficError(f"{where} has {len(own)} HTTP routes ({names}); name the one to weight with the "
                           "'route' option")
    return own[0]


def weighted_route(route: Mapping[str, Any], config: IstioConfig, weights: Weights, where: str) -> Obj:
    """``route`` with one destination per role carrying its weight (existing entries keep their extras)."""
    for role, weight in weights.items():
        if weight and role not in config.destinations:
            raise RouterConfigError(f"weights give {role} {weight}% but the istio router has no '{role}' destination")
    entries = [e for e in route.get("route") or [] if isinstance(e, Mapping)]
    used: set[int] = set()
    result: list[Obj] = []
    for role in ROLES:
        destination = config.destinations.get(role)
        if destination is None:
            continue
        index = next((i for i, e in enumerate(entries) if i not in used
                      and destination.matches(e.get("destination") or {})), None)
        if index is None and role == "baseline" and weights.baseline is None:
            continue  # a configured baseline not in use: do not add it
        entry = copy.deepcopy(dict(entries[index])) if index is not None else {"destination":
                                                                                 destination.to_destination()}
        if index is not None:
            used.add(index)
        entry["weight"] = weights.get(role)
        result.append(entry)
    strangers = [e.get("destination") for i, e in enumerate(entries) if i not in used]
    if strangers:
        raise TrafficError(f"{where} also routes to {strangers}, which is not a configured destination "
                           f"({', '.join(f'{r}: {d}' for r, d in config.destinations.items())}); add it to the "
                           "router options or remove it from the route")
    return {**copy.deepcopy(dict(route)), "route": result}


def read_weights(route: Mapping[str, Any], config: IstioConfig) -> dict[str, int]:
    """Weight per configured role as the route has it (an only destination without weight gets 100)."""
    entries = [e for e in route.get("route") or [] if isinstance(e, Mapping)]
    result = {role: 0 for role in config.destinations}
    for entry in entries:
        weight = entry.get("weight")
        if weight is None:
            weight = 100 if len(entries) == 1 else 0
        for role, destination in config.destinations.items():
            if destination.matches(entry.get("destination") or {}):
                result[role] += int(weight)
                break
    return result


def managed_route_name(route: Mapping[str, Any], kind: str) -> str:
    return f"{MANAGED_PREFIX}{kind}-{route.get('name') or 'route'}"


def with_canary_route(http: Sequence[Mapping[str, Any]], index: int, config: IstioConfig,
                      header: Mapping[str, Any], kind: str, header_name: str) -> list[Obj]:
    """``http`` with a route sending requests matching ``header_name: header`` to the canary, before ``index``."""
    if "canary" not in config.destinations:
        raise RouterConfigError("the istio router needs a 'canary' destination for a header or cookie route")
    target = http[index]
    name = managed_route_name(target, kind)
    matches = [copy.deepcopy(dict(m)) for m in target.get("match") or []] or [{}]
    for match in matches:
        match["headers"] = {**(match.get("headers") or {}), header_name: dict(header)}
    managed = {"name": name, "match": matches,
               "route": [{"destination": config.destinations["canary"].to_destination(), "weight": 100}]}
    result: list[Obj] = []
    for position, route in enumerate(http):
        if route.get("name") == name:
            continue  # replaced: setting the same route twice is idempotent
        if position == index:
            result.append(managed)
        result.append(copy.deepcopy(dict(route)))
    return result


def without_managed_routes(http: Sequence[Mapping[str, Any]]) -> list[Obj]:
    return [copy.deepcopy(dict(r)) for r in http if not _is_managed(r)]


# --- the router --------------------------------------------------------------------------------------


class IstioRouter:
    """Weights, header and cookie routes on an Istio VirtualService."""

    TYPE: ClassVar[str] = "istio"
    CAPABILITIES: ClassVar[frozenset[str]] = frozenset({"split", "baseline", "header", "cookie"})

    def __init__(self, client: ObjectClient, options: Mapping[str, Any] | IstioConfig) -> None:
        self.client = client
        self.config = options if isinstance(options, IstioConfig) else IstioConfig.from_options(options)

    @property
    def _where(self) -> str:
        return f"VirtualService {self.config.namespace or '(default namespace)'}/{self.config.virtual_service}"

    def _update(self, change: Any) -> Obj:
        return update_object(self.client, kind=KIND, name=self.config.virtual_service,
                             namespace=self.config.namespace, api_version=self.config.api_version,
                             change=change, field_manager=self.config.field_manager)

    def _http(self, live: Obj) -> list[Obj]:
        http = (live.get("spec") or {}).get("http")
        if not http:
            raise TrafficError(f"{self._where} has no spec.http routes to weight")
        return [dict(r) for r in http]

    def set_weights(self, weights: Weights) -> None:
        def change(live: Obj) -> Obj | None:
            http = self._http(live)
            index = find_route(http, self.config.route, self._where)
            new = list(http)
            new[index] = weighted_route(http[index], self.config, weights, f"{self._where} route {index}")
            return None if new == http else {"spec": {"http": new}}

        self._update(change)

    def _set_canary_route(self, header: Mapping[str, Any], kind: str, header_name: str) -> None:
        def change(live: Obj) -> Obj | None:
            http = self._http(live)
            index = find_route(http, self.config.route, self._where)
            new = with_canary_route(http, index, self.config, header, kind, header_name)
            return None if new == http else {"spec": {"http": new}}

        self._update(change)

    def set_header_route(self, route: HeaderRoute) -> None:
        self._set_canary_route({"exact": route.value}, "header", route.name.lower())

    def set_cookie_route(self, route: CookieRoute) -> None:
        self._set_canary_route({"regex": route.header_regex}, "cookie", "cookie")

    def verify_weights(self, weights: Weights) -> bool | None:
        live = self.client.get(KIND, self.config.virtual_service, self.config.namespace,
                               api_version=self.config.api_version)
        http = self._http(live)
        actual = read_weights(http[find_route(http, self.config.route, self._where)], self.config)
        return all(actual.get(role, 0) == weights.get(role) for role in set(actual) | set(weights.as_dict()))

    def remove_managed_routes(self) -> None:
        def change(live: Obj) -> Obj | None:
            http = [dict(r) for r in (live.get("spec") or {}).get("http") or []]
            new = without_managed_routes(http)
            return None if new == http else {"spec": {"http": new}}

        self._update(change)

    def describe(self) -> dict[str, Any]:
        return {"router": self.TYPE, "kind": KIND, "api_version": self.config.api_version,
                "namespace": self.config.namespace, "name": self.config.virtual_service, "route": self.config.route}
