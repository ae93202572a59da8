"""Weights, header/cookie routes, the registry and the purity of the traffic package.

Aspects: weight validation (sum, range, roles, templated strings), capability checks naming the
routers that can, the explicit registry refusing unknown names, the Nop router, and that no router
module imports Airflow or the Kubernetes client.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from airflow_delivery.kubernetes.traffic.base import (
    CookieRoute,
    HeaderRoute,
    NopRouter,
    RouterConfigError,
    UnsupportedTrafficError,
    Weights,
    require,
)
from airflow_delivery.kubernetes.traffic.registry import ROUTERS, make_router, router_class, routers_with
from airflow_delivery.kubernetes.traffic.service import ServiceRouter


def test_weights_parse_and_order() -> None:
    weights = Weights.parse({"canary": 10, "stable": 90})
    assert weights.as_dict() == {"stable": 90, "canary": 10}
    assert weights.is_split
    three = Weights.parse({"stable": "80", "baseline": 10, "canary": 10.0})
    assert three.items() == [("stable", 80), ("baseline", 10), ("canary", 10)]
    assert not Weights.canary_percent(0).is_split and Weights.canary_percent(0).stable == 100


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"stable": 90, "canary": 20}, "add up to 100"),
        ({"stable": 110, "canary": -10}, "0-100"),
        ({"stable": 100}, "need ['canary']"),
        ({"stable": 50, "canary": 50, "blue": 0}, "unknown traffic roles ['blue']"),
        ({"stable": True, "canary": 0}, "integer percentage"),
        ({"stable": "ninety", "canary": 10}, "integer percentage"),
        ([90, 10], "mapping"),
    ],
)
def test_bad_weights_are_refused_with_the_reason(value: object, message: str) -> None:
    with pytest.raises(RouterConfigError, match=re.escape(message)):
        Weights.parse(value)  # type: ignore[arg-type]


def test_routes_validate_their_fields() -> None:
    assert CookieRoute("canary").header_regex == r"^(.*?;\s*)?canary=always(;.*)?$"
    assert re.search(CookieRoute("canary").header_regex, "theme=dark; canary=always; x=1")
    assert not re.search(CookieRoute("canary").header_regex, "canary=never")
    with pytest.raises(RouterConfigError, match="cookie name"):
        CookieRoute("bad name")
    with pytest.raises(RouterConfigError, match="non-empty string value"):
        HeaderRoute("x-canary", "")


def test_registry_is_explicit_and_refuses_unknown_names() -> None:
    assert sorted(ROUTERS) == ["gateway", "istio", "nginx", "none", "service"]
    assert router_class("service") is ServiceRouter
    with pytest.raises(RouterConfigError, match=r"unknown traffic router 'linkerd'; valid routers are \['gateway', "):
        router_class("linkerd")
    with pytest.raises(RouterConfigError, match=r"unknown istio router options \['virtualservice'\]"):
        make_router("istio", client=None, options={"virtualservice": "x"})  # type: ignore[arg-type]
    with pytest.raises(RouterConfigError, match=r"istio router needs options \['virtual_service'\]"):
        make_router("istio", client=None, options={"stable": "a", "canary": "b"})  # type: ignore[arg-type]


def test_capabilities_name_the_routers_that_can() -> None:
    assert routers_with("cookie") == ["gateway", "istio", "nginx"]
    assert routers_with("baseline") == ["gateway", "istio"]
    service = make_router("service", client=None, options={"service": "web"})  # type: ignore[arg-type]
    with pytest.raises(UnsupportedTrafficError, match="router 'service' cannot route by header; routers that can: "
                                                      "gateway, istio, nginx"):
        require(service, "header", "route by header")


def test_nop_router_does_nothing_and_cannot_verify() -> None:
    router = NopRouter()
    router.set_weights(Weights.canary_percent(30))
    router.set_header_route(HeaderRoute("x-canary", "yes"))
    assert router.verify_weights(Weights.canary_percent(30)) is None
    assert router.describe() == {"router": "none"}
    with pytest.raises(RouterConfigError, match="takes no options"):
        NopRouter(None, {"service": "web"})


def test_traffic_package_imports_neither_airflow_nor_the_kubernetes_client() -> None:
    code = (
        "import sys\n"
        "import airflow_delivery.kubernetes.traffic.registry, airflow_delivery.kubernetes.errors\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'kubernetes', 'kubernetes_asyncio'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_service_router_label_matches_versioning() -> None:
    versioning = pytest.importorskip("airflow_delivery.kubernetes.versioning")
    from airflow_delivery.kubernetes.traffic.service import DEFAULT_VERSION_LABEL

    assert DEFAULT_VERSION_LABEL == versioning.VERSION_LABEL
