"""Gateway API: weights between the ``backendRefs`` of one rule of an ``HTTPRoute``.

Like the Istio router, it rewrites only the weights of backends it is told about and adds its own
rules (named ``airflow-delivery-...``) for header and cookie canaries. Gateway API picks the most
specific match, so a managed rule repeats the target rule's matches plus the header condition (more
header matches win) and never captures requests the target rule would not get.

Backends are matched by name, namespace and port (when configured), kind ``Service`` by default.
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
API_VERSION = "gateway.networking.k8s.io/v1"
KIND = "HTTPRoute"


@dataclass(frozen=True)
class Backend:
    """A ``backendRef``: a Service (by default) with a name, optional namespace and port."""

    name: str
    port: int | None = None
    namespace: str | None = None
    kind: str = "Service"

    @classmethod
    def parse(cls, role: str, value: Any) -> Backend:
        if isinstance(value, str):
            return cls(name=value)
        if not isinstance(value, Mapping) or not value.get("name"):
            raise RouterConfigError(f"gateway backend for {role} must be a Service name or {{name, port, namespace}}, "
                                    f"got {value!r}")
        unknown = sorted(set(value) - {"name", "port", "namespace", "kind"})
        if unknown:
            raise RouterConfigError(f"gateway backend for {role} has unknown keys {unknown}; valid: name, port, "
                                    "namespace, kind")
        port = value.get("port")
        return cls(name=str(value["name"]), port=int(port) if port is not None else None,
                   namespace=value.get("namespace") or None, kind=str(value.get("kind") or "Service"))

    def matches(self, ref: Mapping[str, Any]) -> bool:
        if ref.get("name") != self.name or (ref.get("kind") or "Service") != self.kind:
            return False
        if (ref.get("namespace") or None) != self.namespace:
            return False
        return self.port is None or ref.get("port") is None or ref.get("port") == self.port

    def to_ref(self) -> Obj:
        out: Obj = {"name": self.name}
        if self.kind != "Service":
            out["kind"] = self.kind
        if self.namespace:
            out["namespace"] = self.namespace
        if self.port is not None:
            out["port"] = self.port
        return out


@dataclass(frozen=True)
class GatewayConfig:
    http_route: str
    backends: Mapping[str, Backend]
    namespace: str | None = None
    rule: str | int | None = None
    """Rule to weight: its ``name``, its index, or ``None`` for the only rule referencing our backends."""
    api_version: str = API_VERSION
    field_manager: str = TRAFFIC_FIELD_MANAGER

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> GatewayConfig:
        opts = options_of("gateway", options, ("http_route", "stable", "canary"),
                          ("namespace", "rule", "baseline", "api_version", "field_manager"))
        backends = {role: Backend.parse(role, opts[role]) for role in ROLES if opts.get(role)}
        return cls(http_route=str(opts["http_route"]), backends=backends, namespace=opts.get("namespace"),
                   rule=opts.get("rule"), api_version=opts.get("api_version") or API_VERSION,
                   field_manager=opts.get("field_manager") or TRAFFIC_FIELD_MANAGER)


# --- pure functions ----------------------------------------------------------------------------------


def _is_managed(rule: Mapping[str, Any]) -> bool:
    return str(rule.get("name") or "").startswith(MANAGED_PREFIX)


def find_rule(rules: Sequence[Mapping[str, Any]], config: GatewayConfig, where: str) -> int:
    """Index of the rule to weight; errors say which rules exist."""
    if isinstance(config.rule, int) and not isinstance(config.rule, bool):
        if not 0 <= config.rule < len(rules):
            raise TrafficError(f"{where} has {len(rules)} rules; rule index {config.rule} does not exist")
        return config.rule
    if isinstance(config.rule, str):
        for index, rule in enumerate(rules):
            if rule.get("name") == config.rule:
                return index
        names = [r.get("name") or f"#{i}" for i, r in enumerate(rules)]
        raise TrafficError(f"{where} has no rule named {config.rule!r}; its rules are {names}")
    ours = [i for i, r in enumerate(rules) if not _is_managed(r)
            and any(b.matches(ref) for ref in r.get("backendRefs") or [] for b in config.backends.values())]
    if len(ours) != 1:
        raise TrafficError(f"{where} has {len(ours)} rules referencing the configured backends; name the rule to "
                           "weight with the 'rule' option (its name or index)")
    return ours[0]


def weighted_rule(rule: Mapping[str, Any], config: GatewayConfig, weights: Weights, where: str) -> Obj:
    """``rule`` with one backendRef per role carrying its weight (existing refs keep filters etc.)."""
    for role, weight in weights.items():
        if weight and role not in config.backends:
            raise RouterConfigError(f"weights give {role} {weight}% but the gateway router has no '{role}' backend")
    refs = [r for r in rule.get("backendRefs") or [] if isinstance(r, Mapping)]
    used: set[int] = set()
    result: list[Obj] = []
    for role in ROLES:
        backend = config.backends.get(role)
        if backend is None:
            continue
        index = next((i for i, r in enumerate(refs) if i not in used and backend.matches(r)), None)
        if index is None and role == "baseline" and weights.baseline is None:
            continue
        ref = copy.deepcopy(dict(refs[index])) if index is not None else backend.to_ref()
        if index is not None:
            used.add(index)
        ref["weight"] = weights.get(role)
        result.append(ref)
    strangers = [r.get("name") for i, r in enumerate(refs) if i not in used]
    if strangers:
        raise TrafficError(f"{where} also sends traffic to backends {strangers}, which are not configured roles; add "
                           "them to the router options or remove them from the rule")
    return {**copy.deepcopy(dict(rule)), "backendRefs": result}


def read_weights(rule: Mapping[str, Any], config: GatewayConfig) -> dict[str, int]:
    """Weight per role in percent of the rule's total weight (Gateway API weights are proportions)."""
    refs = [r for r in rule.get("backendRefs") or [] if isinstance(r, Mapping)]
    raw = {role: 0 for role in config.backends}
    for ref in refs:
        weight = int(ref.get("weight", 1))  # the API's default weight is 1
        for role, backend in config.backends.items():
            if backend.matches(ref):
                raw[role] += weight
                break
    total = sum(int(r.get("weight", 1)) for r in refs)
    return {role: round(100 * w / total) if total else 0 for role, w in raw.items()}


def with_canary_rule(rules: Sequence[Mapping[str, Any]], index: int, config: GatewayConfig,
                     header_match: Mapping[str, Any], kind: str) -> list[Obj]:
    """``rules`` plus a rule sending requests with ``header_match`` to the canary backend."""
    if "canary" not in config.backends:
        raise RouterConfigError("the gateway router needs a 'canary' backend for a header or cookie route")
    target = rules[index]
    # Named after the target rule, never its index: the index shifts when the managed rule is inserted.
    name = f"{MANAGED_PREFIX}{kind}" + (f"-{target['name']}" if target.get("name") else "")
    matches = [copy.deepcopy(dict(m)) for m in target.get("matches") or []] or [
        {"path": {"type": "PathPrefix", "value": "/"}}]
    for match in matches:
        headers = [h for h in match.get("headers") or [] if h.get("name", "").lower() != header_match["name"].lower()]
        match["headers"] = [*headers, dict(header_match)]
    canary_ref = config.backends["canary"].to_ref()
    canary_ref["weight"] = 1
    managed = {"name": name, "matches": matches, "backendRefs": [canary_ref]}
    result: list[Obj] = []
    for position, rule in enumerate(rules):
        if rule.get("name") == name:
            continue
        if position == index:
            result.append(managed)
        result.append(copy.deepcopy(dict(rule)))
    return result


def without_managed_rules(rules: Sequence[Mapping[str, Any]]) -> list[Obj]:
    return [copy.deepcopy(dict(r)) for r in rules if not _is_managed(r)]


# --- the router --------------------------------------------------------------------------------------


class GatewayRouter:
    """Weights, header and cookie rules on a Gateway API HTTPRoute."""

    TYPE: ClassVar[str] = "gateway"
    CAPABILITIES: ClassVar[frozenset[str]] = frozenset({"split", "baseline", "header", "cookie"})

    def __init__(self, client: ObjectClient, options: Mapping[str, Any] | GatewayConfig) -> None:
        self.client = client
        self.config = options if isinstance(options, GatewayConfig) else GatewayConfig.from_options(options)

    @property
    def _where(self) -> str:
        return f"HTTPRoute {self.config.namespace or '(default namespace)'}/{self.config.http_route}"

    def _rules(self, live: Obj) -> list[Obj]:
        rules = (live.get("spec") or {}).get("rules")
        if not rules:
            raise TrafficError(f"{self._where} has no spec.rules to weight")
        return [dict(r) for r in rules]

    def _update(self, change: Any) -> Obj:
        return update_object(self.client, kind=KIND, name=self.config.http_route, namespace=self.config.namespace,
                             api_version=self.config.api_version, change=change,
                             field_manager=self.config.field_manager)

    def set_weights(self, weights: Weights) -> None:
        def change(live: Obj) -> Obj | None:
            rules = self._rules(live)
            index = find_rule(rules, self.config, self._where)
            new = list(rules)
            new[index] = weighted_rule(rules[index], self.config, weights, f"{self._where} rule {index}")
            return None if new == rules else {"spec": {"rules": new}}

        self._update(change)

    def _set_canary_rule(self, header_match: Mapping[str, Any], kind: str) -> None:
        def change(live: Obj) -> Obj | None:
            rules = self._rules(live)
            index = find_rule(rules, self.config, self._where)
            new = with_canary_rule(rules, index, self.config, header_match, kind)
            return None if new == rules else {"spec": {"rules": new}}

        self._update(change)

    def set_header_route(self, route: HeaderRoute) -> None:
        self._set_canary_rule({"type": "Exact", "name": route.name, "value": route.value}, "header")

    def set_cookie_route(self, route: CookieRoute) -> None:
        self._set_canary_rule({"type": "RegularExpression", "name": "Cookie", "value": route.header_regex}, "cookie")

    def verify_weights(self, weights: Weights) -> bool | None:
        live = self.client.get(KIND, self.config.http_route, self.config.namespace, api_version=self.config.api_version)
        rules = self._rules(live)
        actual = read_weights(rules[find_rule(rules, self.config, self._where)], self.config)
        return all(actual.get(role, 0) == weights.get(role) for role in set(actual) | set(weights.as_dict()))

    def remove_managed_routes(self) -> None:
        def change(live: Obj) -> Obj | None:
            rules = [dict(r) for r in (live.get("spec") or {}).get("rules") or []]
            new = without_managed_rules(rules)
            return None if new == rules else {"spec": {"rules": new}}

        self._update(change)

    def describe(self) -> dict[str, Any]:
        return {"router": self.TYPE, "kind": KIND, "api_version": self.config.api_version,
                "namespace": self.config.namespace, "name": self.config.http_route, "rule": self.config.rule}
