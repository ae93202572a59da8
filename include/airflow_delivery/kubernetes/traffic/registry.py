"""The router types by name: an explicit dict, and a lookup that refuses unknown names listing the valid ones.

Adding a router means adding one module and one line here; nothing falls back to a default router
(flagger silently falls back to Istio, which hides typos until traffic goes the wrong way).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow_delivery.kubernetes.traffic.base import NopRouter, ObjectClient, RouterConfigError, TrafficRouter
from airflow_delivery.kubernetes.traffic.gateway import GatewayRouter
from airflow_delivery.kubernetes.traffic.istio import IstioRouter
from airflow_delivery.kubernetes.traffic.nginx import NginxRouter
from airflow_delivery.kubernetes.traffic.service import ServiceRouter

RouterFactory = Callable[[ObjectClient, Mapping[str, Any]], TrafficRouter]

ROUTERS: dict[str, type[Any]] = {
    NopRouter.TYPE: NopRouter,
    ServiceRouter.TYPE: ServiceRouter,
    IstioRouter.TYPE: IstioRouter,
    NginxRouter.TYPE: NginxRouter,
    GatewayRouter.TYPE: GatewayRouter,
}


def router_class(router_type: str) -> type[Any]:
    """The class registered for ``router_type``; ``RouterConfigError`` lists the valid types."""
    try:
        return ROUTERS[router_type]
    except (KeyError, TypeError):
        raise RouterConfigError(f"unknown traffic router {router_type!r}; valid routers are {sorted(ROUTERS)}") from None


def make_router(router_type: str, client: ObjectClient, options: Mapping[str, Any] | None = None) -> TrafficRouter:
    """A router of ``router_type`` acting through ``client``, configured (and validated) from ``options``."""
    router: TrafficRouter = router_class(router_type)(client, dict(options or {}))
    return router


def routers_with(capability: str) -> list[str]:
    """Names of the routers (other than ``none``) that have ``capability``."""
    return sorted(name for name, cls in ROUTERS.items() if name != NopRouter.TYPE and capability in cls.CAPABILITIES)
