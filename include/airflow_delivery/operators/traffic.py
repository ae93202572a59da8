"""``SetTrafficOperator``: set a canary's traffic weights (and header/cookie routes) through a router.

Thin on purpose: validation of static arguments in ``__init__``, templated ones in ``execute``, the
router from ``kubernetes.traffic.registry``, the cluster through ``DeliveryKubernetesHook``. The order
is fixed so a failure never leaves more traffic on the canary than asked for: remove old managed
routes (if asked), set weights, add header/cookie routes, then read back and verify.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any, ClassVar

from airflow.sdk import BaseOperator, Context

from airflow_delivery.kubernetes.traffic.base import (
    CookieRoute,
    HeaderRoute,
    TrafficRouter,
    TrafficVerificationError,
    Weights,
    require,
)
from airflow_delivery.kubernetes.traffic.registry import make_router, router_class


class SetTrafficOperator(BaseOperator):
    """Route ``weights`` (e.g. ``{"stable": 90, "canary": 10}``) with router ``router`` and its ``router_options``.

    :param router: router type: ``service``, ``istio``, ``nginx``, ``gateway`` or ``none``.
    :param router_options: the router's options (object name, namespace, backends/versions per role).
    :param weights: percentages per role (``stable``, ``canary``, optional ``baseline``), summing to 100.
    :param canary_weight: shorthand for ``{"stable": 100 - w, "canary": w}`` (exclusive with ``weights``).
    :param header_route: ``{"name": ..., "value": ...}``: requests with that header go to the canary.
    :param cookie: cookie name: requests whose cookie is ``always`` go to the canary (sticky per user).
    :param remove_managed_routes: first remove header/cookie routes this router added earlier.
    :param verify: read the object back and fail unless it routes as set (routers that can check).
    :param kubernetes_conn_id: the cluster (Spinnaker "account").

    Returns (XCom) what was set: router, object, weights, routes and whether it was verified.
    """

    template_fields: Sequence[str] = ("router_options", "weights", "canary_weight", "header_route", "cookie",
                                      "kubernetes_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"router_options": "json", "weights": "json",
                                                           "header_route": "json"}
    ui_color = "#e4f0e8"

    def __init__(
        self,
        *,
        router: str,
        router_options: Mapping[str, Any] | None = None,
        weights: Mapping[str, Any] | None = None,
        canary_weight: int | str | None = None,
        header_route: Mapping[str, str] | None = None,
        cookie: str | None = None,
        remove_managed_routes: bool = False,
        verify: bool = True,
        kubernetes_conn_id: str = "kubernetes_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        router_class(router)  # an unknown router fails at parse time, listing the valid ones
        if weights is None and canary_weight is None and header_route is None and cookie is None \
                and not remove_managed_routes:
            raise ValueError(f"{self.task_id}: nothing to do; give weights or canary_weight, header_route, cookie "
                             "or remove_managed_routes=True")
        if weights is not None and canary_weight is not None:
            raise ValueError(f"{self.task_id}: give either weights {dict(weights)!r} or canary_weight "
                             f"{canary_weight!r}, not both")
        self.router = router
        self.router_options = dict(router_options or {})
        self.weights = dict(weights) if weights is not None else None
        self.canary_weight = canary_weight
        self.header_route = dict(header_route) if header_route is not None else None
        self.cookie = cookie
        self.remove_managed_routes = remove_managed_routes
        self.verify = verify
        self.kubernetes_conn_id = kubernetes_conn_id

    @cached_property
    def hook(self) -> Any:
        from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook

        return DeliveryKubernetesHook(conn_id=self.kubernetes_conn_id)

    def _requested_weights(self) -> Weights | None:
        # Validated here, not in __init__, because templated values are only known now.
        if self.weights is not None:
            return Weights.parse(self.weights)
        if self.canary_weight is not None:
            value = self.canary_weight
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value.strip())
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{self.task_id}: canary_weight must be an integer 0-100, got {self.canary_weight!r}")
            return Weights.canary_percent(value)
        return None

    def _requested_header(self) -> HeaderRoute | None:
        if self.header_route is None:
            return None
        unknown = sorted(set(self.header_route) - {"name", "value"})
        if unknown:
            raise ValueError(f"{self.task_id}: header_route has unknown keys {unknown}; give name and value")
        return HeaderRoute(str(self.header_route.get("name") or ""), str(self.header_route.get("value") or ""))

    def execute(self, context: Context) -> dict[str, Any]:
        weights = self._requested_weights()
        header = self._requested_header()
        cookie = CookieRoute(self.cookie) if self.cookie else None
        router: TrafficRouter = make_router(self.router, self.hook, self.router_options)
        if weights is not None and weights.is_split:
            require(router, "split", f"split traffic {weights.as_dict()}")
        if weights is not None and weights.baseline is not None:
            require(router, "baseline", "route to a baseline")
        if header is not None:
            require(router, "header", "route by header")
        if cookie is not None:
            require(router, "cookie", "route by cookie")

        if self.remove_managed_routes:
            router.remove_managed_routes()
            self.log.info("Removed managed header/cookie routes from %s", router.describe())
        if weights is not None:
            router.set_weights(weights)
            self.log.info("Set weights %s on %s", weights.as_dict(), router.describe())
        if header is not None:
            router.set_header_route(header)
            self.log.info("Requests with header %s: %s go to the canary", header.name, header.value)
        if cookie is not None:
            router.set_cookie_route(cookie)
            self.log.info("Requests with cookie %s=always go to the canary", cookie.name)

        verified: bool | None = None
        if weights is not None and self.verify:
            verified = router.verify_weights(weights)
            if verified is False:
                raise TrafficVerificationError(
                    f"{self.task_id}: {router.describe()} does not route {weights.as_dict()} when read back; another "
                    "controller may have changed it")
            if verified is None:
                self.log.info("Router %s cannot verify weights; not checked", self.router)
        return {
            **router.describe(),
            "weights": weights.as_dict() if weights is not None else None,
            "header_route": {"name": header.name, "value": header.value} if header else None,
            "cookie": cookie.name if cookie else None,
            "removed_managed_routes": self.remove_managed_routes,
            "verified": verified,
            "kubernetes_conn_id": self.kubernetes_conn_id,
        }
