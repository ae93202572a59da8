"""Service selector: send a Service's traffic to one version (Spinnaker's enable/disable server group).

Versioned workloads (``web-v003``, ``web-v004``) label their pods with the version
(``delivery.airflow.apache.org/version: v004``, see ``kubernetes.versioning.VERSION_LABEL``). The
Service selects pods by the application labels plus that version label, so changing the one
selector value moves all traffic at once: enable ``v004`` and ``v003`` is disabled in the same write.
That is what red/black and highlander need, and rollback is enabling the previous version again.

A Service cannot split traffic by percentage (only by pod counts, which is what a canary should not
depend on), so weights other than 0/100 are refused with a pointer to the routers that can.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from airflow_delivery.kubernetes.traffic.base import (
    ROLES,
    TRAFFIC_FIELD_MANAGER,
    CookieRoute,
    HeaderRoute,
    ObjectClient,
    RouterConfigError,
    TrafficError,
    UnsupportedTrafficError,
    Weights,
    options_of,
    update_object,
)

Obj = dict[str, Any]
API_VERSION = "v1"
KIND = "Service"
DEFAULT_VERSION_LABEL = "delivery.airflow.apache.org/version"
"""Same value as ``airflow_delivery.kubernetes.versioning.VERSION_LABEL`` (a test keeps them equal)."""


@dataclass(frozen=True)
class ServiceConfig:
    service: str
    versions: Mapping[str, str] = field(default_factory=dict)
    """Version label value of each role, e.g. ``{"stable": "v003", "canary": "v004"}``."""
    namespace: str | None = None
    version_label: str = DEFAULT_VERSION_LABEL
    field_manager: str = TRAFFIC_FIELD_MANAGER

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> ServiceConfig:
        opts = options_of("service", options, ("service",),
                          ("namespace", "version_label", "stable", "canary", "baseline", "field_manager"))
        versions = {role: str(opts[role]) for role in ROLES if opts.get(role)}
        return cls(service=str(opts["service"]), versions=versions, namespace=opts.get("namespace"),
                   version_label=opts.get("version_label") or DEFAULT_VERSION_LABEL,
                   field_manager=opts.get("field_manager") or TRAFFIC_FIELD_MANAGER)


# --- pure functions ----------------------------------------------------------------------------------


def enabled_version(service: Mapping[str, Any], label: str) -> str | None:
    """The version the Service selects, ``None`` when its selector does not pin one."""
    selector = (service.get("spec") or {}).get("selector") or {}
    value = selector.get(label)
    return str(value) if value is not None else None


def enable_patch(service: Mapping[str, Any], label: str, version: str) -> Obj | None:
    """Merge patch making the Service select ``version`` only; ``None`` if it already does."""
    if enabled_version(service, label) == version:
        return None
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        raise TrafficError(f"Service {(service.get('metadata') or {}).get('name')} has no selector (it is headless "
                           "or uses manual Endpoints), so it cannot route by version")
    return {"spec": {"selector": {label: version}}}


def role_receiving_all(weights: Weights) -> str:
    """The role that gets 100% (a Service can only send everything to one version)."""
    if weights.is_split:
        raise UnsupportedTrafficError(
            f"a Service selector cannot split traffic {weights.as_dict()}: it sends everything to one version. Use "
            "weights of 0 and 100, or the istio, nginx or gateway router for a percentage")
    return next(role for role, weight in weights.items() if weight == 100)


# --- the router --------------------------------------------------------------------------------------


class ServiceRouter:
    """Moves a Service between versions by its selector's version label."""

    TYPE: ClassVar[str] = "service"
    CAPABILITIES: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, client: ObjectClient, options: Mapping[str, Any] | ServiceConfig) -> None:
        self.client = client
        self.config = options if isinstance(options, ServiceConfig) else ServiceConfig.from_options(options)

    def _version_of(self, role: str) -> str:
        version = self.config.versions.get(role)
        if not version:
            raise RouterConfigError(f"service router: no version given for role {role!r}; set the '{role}' option "
                                    f"to the version label value (e.g. v004) of its workload")
        return version

    def enable(self, version: str) -> Obj:
        """Send all of the Service's traffic to ``version`` (disabling whichever version had it)."""
        if not version:
            raise RouterConfigError("service router: the version to enable must be non-empty")
        return update_object(self.client, kind=KIND, name=self.config.service, namespace=self.config.namespace,
                             api_version=API_VERSION,
                             change=lambda live: enable_patch(live, self.config.version_label, version),
                             field_manager=self.config.field_manager)

    def disable(self, version: str) -> Obj:
        """Make sure ``version`` gets no traffic from the Service.

        With one Service selector, disabling the enabled version would leave the Service without
        endpoints, so that is refused: enable the version that should take over instead.
        """
        live = self.client.get(KIND, self.config.service, self.config.namespace, api_version=API_VERSION)
        if enabled_version(live, self.config.version_label) == version:
            raise TrafficError(f"Service {self.config.service} sends all its traffic to {version}; disabling it would "
                               "leave the Service without endpoints. Enable the version that should take over")
        return live

    def enabled(self) -> str | None:
        live = self.client.get(KIND, self.config.service, self.config.namespace, api_version=API_VERSION)
        return enabled_version(live, self.config.version_label)

    def set_weights(self, weights: Weights) -> None:
        self.enable(self._version_of(role_receiving_all(weights)))

    def set_header_route(self, route: HeaderRoute) -> None:
        raise UnsupportedTrafficError("a Service selector cannot route by header; use the istio, nginx or gateway router")

    def set_cookie_route(self, route: CookieRoute) -> None:
        raise UnsupportedTrafficError("a Service selector cannot route by cookie; use the istio, nginx or gateway router")

    def verify_weights(self, weights: Weights) -> bool | None:
        return self.enabled() == self._version_of(role_receiving_all(weights))

    def remove_managed_routes(self) -> None:
        """Nothing to remove: the router only ever changes the selector's version label."""
        return

    def describe(self) -> dict[str, Any]:
        return {"router": self.TYPE, "kind": KIND, "api_version": API_VERSION, "namespace": self.config.namespace,
                "name": self.config.service, "version_label": self.config.version_label}
