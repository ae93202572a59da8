"""NGINX Ingress canary: annotations on a second Ingress (the canary one) for the same host and path.

ingress-nginx sends a request to the canary Ingress' backend when, in order: the ``canary-by-header``
header is ``always`` (or equals ``canary-by-header-value``), the ``canary-by-cookie`` cookie is
``always``, or the ``canary-weight`` lottery picks it. ``never`` in the header or cookie pins a request
to stable. The cookie is the sticky per-user canary: a user whose cookie says ``always`` keeps
seeing the canary on every request, which weight alone does not give.

There is exactly one canary Ingress per host/path, so a baseline (third backend) is not possible here.
The router writes only these annotations and leaves every other annotation alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_delivery.kubernetes.traffic.base import (
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
API_VERSION = "networking.k8s.io/v1"
KIND = "Ingress"
PREFIX = "nginx.ingress.kubernetes.io/"
CANARY = PREFIX + "canary"
CANARY_WEIGHT = PREFIX + "canary-weight"
CANARY_WEIGHT_TOTAL = PREFIX + "canary-weight-total"
CANARY_BY_HEADER = PREFIX + "canary-by-header"
CANARY_BY_HEADER_VALUE = PREFIX + "canary-by-header-value"
CANARY_BY_COOKIE = PREFIX + "canary-by-cookie"
ROUTE_ANNOTATIONS = (CANARY_BY_HEADER, CANARY_BY_HEADER_VALUE, CANARY_BY_COOKIE)


@dataclass(frozen=True)
class NginxConfig:
    canary_ingress: str
    """The Ingress carrying the canary annotations (same host/path as the stable one, canary backend)."""
    namespace: str | None = None
    stable_ingress: str | None = None
    """When given, checked to exist and not to be a canary itself (a misconfiguration that sends all traffic)."""
    field_manager: str = TRAFFIC_FIELD_MANAGER

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> NginxConfig:
        opts = options_of("nginx", options, ("canary_ingress",), ("namespace", "stable_ingress", "field_manager"))
        if opts.get("stable_ingress") == opts["canary_ingress"]:
            raise RouterConfigError("nginx router: stable_ingress and canary_ingress must be different Ingresses")
        return cls(canary_ingress=str(opts["canary_ingress"]), namespace=opts.get("namespace"),
                   stable_ingress=opts.get("stable_ingress"),
                   field_manager=opts.get("field_manager") or TRAFFIC_FIELD_MANAGER)


# --- pure functions ----------------------------------------------------------------------------------


def weight_annotations(weights: Weights) -> dict[str, str | None]:
    """Annotations giving the canary ``weights.canary`` percent (the canary stays a canary at 0)."""
    if weights.baseline is not None:
        raise RouterConfigError("NGINX Ingress has one canary backend per host/path, so it cannot route to a "
                                "baseline; use the istio or gateway router for baseline + canary")
    return {CANARY: "true", CANARY_WEIGHT: str(weights.canary), CANARY_WEIGHT_TOTAL: None}


def header_annotations(route: HeaderRoute) -> dict[str, str | None]:
    return {CANARY: "true", CANARY_BY_HEADER: route.name, CANARY_BY_HEADER_VALUE: route.value}


def cookie_annotations(route: CookieRoute) -> dict[str, str | None]:
    return {CANARY: "true", CANARY_BY_COOKIE: route.name}


def cleared_route_annotations() -> dict[str, str | None]:
    return dict.fromkeys(ROUTE_ANNOTATIONS)


def annotations_patch(live: Mapping[str, Any], desired: Mapping[str, str | None]) -> Obj | None:
    """A merge patch setting (or, for ``None``, removing) ``desired`` annotations; ``None`` if already so."""
    current = ((live.get("metadata") or {}).get("annotations")) or {}
    changes = {k: v for k, v in desired.items() if current.get(k) != v}
    return {"metadata": {"annotations": changes}} if changes else None


def read_weights(annotations: Mapping[str, str] | None) -> dict[str, int]:
    """Stable/canary percentages the annotations give (honouring ``canary-weight-total``)."""
    annotations = annotations or {}
    if str(annotations.get(CANARY, "")).lower() != "true":
        return {"stable": 100, "canary": 0}
    try:
        weight = int(annotations.get(CANARY_WEIGHT) or 0)
        total = int(annotations.get(CANARY_WEIGHT_TOTAL) or 100)
    except ValueError as exc:
        raise TrafficError(f"unreadable canary weight annotations: {exc}") from exc
    canary = round(100 * weight / total) if total > 0 else 0
    return {"stable": 100 - canary, "canary": canary}


# --- the router --------------------------------------------------------------------------------------


class NginxRouter:
    """Canary weight, header and cookie annotations on the canary Ingress."""

    TYPE: ClassVar[str] = "nginx"
    CAPABILITIES: ClassVar[frozenset[str]] = frozenset({"split", "header", "cookie"})

    def __init__(self, client: ObjectClient, options: Mapping[str, Any] | NginxConfig) -> None:
        self.client = client
        self.config = options if isinstance(options, NginxConfig) else NginxConfig.from_options(options)

    def _get(self, name: str) -> Obj:
        return self.client.get(KIND, name, self.config.namespace, api_version=API_VERSION)

    def _check_stable(self) -> None:
        if not self.config.stable_ingress:
            return
        stable = self._get(self.config.stable_ingress)
        if str(((stable.get("metadata") or {}).get("annotations") or {}).get(CANARY, "")).lower() == "true":
            raise TrafficError(f"Ingress {self.config.stable_ingress} is annotated {CANARY}=true, so it is not the "
                               "stable Ingress; remove the annotation or check the router options")

    def _annotate(self, desired: Mapping[str, str | None]) -> Obj:
        self._check_stable()
        return update_object(self.client, kind=KIND, name=self.config.canary_ingress, namespace=self.config.namespace,
                             api_version=API_VERSION, change=lambda live: annotations_patch(live, desired),
                             field_manager=self.config.field_manager)

    def set_weights(self, weights: Weights) -> None:
        self._annotate(weight_annotations(weights))

    def set_header_route(self, route: HeaderRoute) -> None:
        self._annotate(header_annotations(route))

    def set_cookie_route(self, route: CookieRoute) -> None:
        self._annotate(cookie_annotations(route))

    def verify_weights(self, weights: Weights) -> bool | None:
        live = self._get(self.config.canary_ingress)
        actual = read_weights((live.get("metadata") or {}).get("annotations"))
        return actual == {"stable": weights.stable, "canary": weights.canary}

    def remove_managed_routes(self) -> None:
        self._annotate(cleared_route_annotations())

    def describe(self) -> dict[str, Any]:
        return {"router": self.TYPE, "kind": KIND, "api_version": API_VERSION, "namespace": self.config.namespace,
                "name": self.config.canary_ingress}
