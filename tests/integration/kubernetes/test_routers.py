"""Routers acting through the real hook on the sandbox: concurrent writers, enable/disable, cleanup.

Aspects: a write that races another writer (409 on the guarded patch) is recomputed from a fresh
read instead of overwriting it; the Service router's enable/disable; a router never touching an
object it cannot weight correctly; removing managed Gateway rules.
"""

from __future__ import annotations

import pytest

from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook
from airflow_delivery.kubernetes.traffic.base import HeaderRoute, TrafficError, Weights
from airflow_delivery.kubernetes.traffic.registry import make_router
from airflow_delivery.kubernetes.traffic.service import DEFAULT_VERSION_LABEL
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.integration

VS = {
    "apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "web"},
    "spec": {"hosts": ["web"], "http": [{"route": [{"destination": {"host": "web", "subset": "stable"}}]}]},
}
ISTIO = {"virtual_service": "web", "stable": {"host": "web", "subset": "stable"},
         "canary": {"host": "web", "subset": "canary"}}


def test_a_racing_write_is_recomputed_not_overwritten(hook: DeliveryKubernetesHook, sandbox: SandboxHandle) -> None:
    hook.server_side_apply(VS)
    router = make_router("istio", hook, ISTIO)
    # The first guarded patch loses a race (409); the router re-reads and patches again.
    sandbox.inject(action="error", status=409, verb="patch", resource="virtualservices", times=1)
    router.set_weights(Weights.canary_percent(20))
    assert sandbox.faults() == []
    assert router.verify_weights(Weights.canary_percent(20)) is True
    assert router.verify_weights(Weights.canary_percent(30)) is False

    # Someone else edits the route between our read and write: the stale resourceVersion is refused.
    live = hook.get("VirtualService", "web", api_version="networking.istio.io/v1")
    hook.patch("VirtualService", "web", None, {"spec": {"hosts": ["web", "web.example.com"]}}, "merge",
               api_version="networking.istio.io/v1")
    stale = {"metadata": {"resourceVersion": live["metadata"]["resourceVersion"]}, "spec": {"http": []}}
    with pytest.raises(Exception, match="HTTP 409"):
        hook.patch("VirtualService", "web", None, stale, "merge", api_version="networking.istio.io/v1")
    router.set_weights(Weights.canary_percent(50))
    spec = hook.get("VirtualService", "web", api_version="networking.istio.io/v1")["spec"]
    assert spec["hosts"] == ["web", "web.example.com"]
    assert [e["weight"] for e in spec["http"][0]["route"]] == [50, 50]


def test_unexpected_destinations_stop_the_router_before_writing(hook: DeliveryKubernetesHook) -> None:
    vs = {**VS, "spec": {"hosts": ["web"], "http": [{"route": [
        {"destination": {"host": "web", "subset": "stable"}, "weight": 90},
        {"destination": {"host": "legacy"}, "weight": 10}]}]}}
    before = hook.server_side_apply(vs)["metadata"]["resourceVersion"]
    with pytest.raises(TrafficError, match="also routes to"):
        make_router("istio", hook, ISTIO).set_weights(Weights.canary_percent(5))
    assert hook.get("VirtualService", "web", api_version="networking.istio.io/v1")["metadata"]["resourceVersion"] \
        == before


def test_service_enable_and_disable(hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"},
                            "spec": {"selector": {"app": "api", DEFAULT_VERSION_LABEL: "v003"},
                                     "ports": [{"port": 80}]}})
    router = make_router("service", hook, {"service": "api"})
    router.enable("v004")  # type: ignore[attr-defined]
    assert router.enabled() == "v004"  # type: ignore[attr-defined]
    router.disable("v003")  # type: ignore[attr-defined] - already without traffic: fine
    with pytest.raises(TrafficError, match="leave the Service without endpoints"):
        router.disable("v004")  # type: ignore[attr-defined]
    assert hook.get("Service", "api")["spec"]["selector"] == {"app": "api", DEFAULT_VERSION_LABEL: "v004"}


def test_gateway_managed_rules_are_removed(hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "web"},
        "spec": {"rules": [{"name": "main", "backendRefs": [{"name": "web-stable", "port": 80}]}]}})
    router = make_router("gateway", hook, {"http_route": "web", "stable": {"name": "web-stable", "port": 80},
                                           "canary": {"name": "web-canary", "port": 80}})
    router.set_header_route(HeaderRoute("X-Canary", "1"))
    router.set_header_route(HeaderRoute("X-Canary", "1"))
    rules = hook.get("HTTPRoute", "web", api_version="gateway.networking.k8s.io/v1")["spec"]["rules"]
    assert [r["name"] for r in rules] == ["airflow-delivery-header-main", "main"]
    router.remove_managed_routes()
    rules = hook.get("HTTPRoute", "web", api_version="gateway.networking.k8s.io/v1")["spec"]["rules"]
    assert [r["name"] for r in rules] == ["main"]
