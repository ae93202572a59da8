"""``SetTrafficOperator`` with every router, run through ``dag.test()`` against the sandbox.

Aspects: each router (service, istio, nginx, gateway) changes its object as asked and verifies it,
header and cookie routes, removing managed routes, the returned XCom, and failures that stop before
touching the cluster (a split on a Service, a cookie on a Service, unknown router/options).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook
from airflow_delivery.kubernetes.traffic.base import RouterConfigError, TrafficError, UnsupportedTrafficError
from airflow_delivery.kubernetes.traffic.nginx import (
    CANARY,
    CANARY_BY_COOKIE,
    CANARY_BY_HEADER,
    CANARY_BY_HEADER_VALUE,
    CANARY_WEIGHT,
)
from airflow_delivery.kubernetes.traffic.service import DEFAULT_VERSION_LABEL
from airflow_delivery.operators.traffic import SetTrafficOperator
from tests.integration.kubernetes.conftest import CONN_ID

pytestmark = pytest.mark.integration

DAGS_FOLDER = Path(__file__).parent / "dags"


@pytest.fixture
def traffic_dags(airflow_db: Path, k8s_conn: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The scenario DAGs of ``dags/traffic_dags.py``, in a dag bundle of their own next to the default one."""
    bundles = [
        {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}},
        {"name": "kubernetes-traffic-tests", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
         "kwargs": {"path": str(DAGS_FOLDER), "refresh_interval": 0}},
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
    bag = DagBag(str(DAGS_FOLDER), bundle_path=DAGS_FOLDER, bundle_name="kubernetes-traffic-tests")
    assert not bag.import_errors
    return bag.dags


def run_traffic(dags: dict[str, Any], dag_id: str, **conf: Any) -> tuple[str, Any]:
    """Run one scenario DAG with ``dag.test()``; returns the run state and the task's XCom."""
    run = dags[dag_id].test(run_conf=conf or None)
    ti = run.get_task_instance("traffic")
    value = ti.xcom_pull(task_ids="traffic") if ti.state == "success" else None
    return str(run.state), value


SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web", DEFAULT_VERSION_LABEL: "v001"}, "ports": [{"port": 80}]}}
VIRTUAL_SERVICE = {
    "apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "web"},
    "spec": {"hosts": ["web"], "http": [{"name": "primary", "match": [{"uri": {"prefix": "/"}}],
                                         "route": [{"destination": {"host": "web", "subset": "stable"}}]}]},
}
INGRESS = {
    "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
    "spec": {"ingressClassName": "nginx", "rules": [{"host": "web.example.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]},
}
HTTP_ROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "web"},
    "spec": {"parentRefs": [{"name": "edge"}], "rules": [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": [{"name": "web-stable", "port": 80}]}]},
}


def ingress(name: str, service: str, **annotations: str) -> dict:
    return {**INGRESS, "metadata": {"name": name, "annotations": annotations},
            "spec": {**INGRESS["spec"], "rules": [{**INGRESS["spec"]["rules"][0], "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}]}}


def test_service_router_switches_versions(traffic_dags: dict[str, Any], hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply(SERVICE)
    state, xcom = run_traffic(traffic_dags, "traffic_service_switch")
    assert state == "success"
    assert hook.get("Service", "web")["spec"]["selector"] == {"app": "web", DEFAULT_VERSION_LABEL: "v002"}
    assert xcom["router"] == "service" and xcom["name"] == "web" and xcom["verified"] is True
    assert xcom["weights"] == {"stable": 0, "canary": 100} and xcom["kubernetes_conn_id"] == CONN_ID

    # Rollback: all traffic back to stable.
    state, _ = run_traffic(traffic_dags, "traffic_service_rollback")
    assert state == "success"
    assert hook.get("Service", "web")["spec"]["selector"][DEFAULT_VERSION_LABEL] == "v001"


def test_istio_router_weights_and_header_route(traffic_dags: dict[str, Any], hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply(VIRTUAL_SERVICE)
    state, xcom = run_traffic(traffic_dags, "traffic_istio_canary")
    assert state == "success" and xcom["verified"] is True
    assert xcom["header_route"] == {"name": "x-canary", "value": "yes"}
    http = hook.get("VirtualService", "web", api_version="networking.istio.io/v1")["spec"]["http"]
    assert [r["name"] for r in http] == ["airflow-delivery-header-primary", "primary"]
    assert http[0]["match"] == [{"uri": {"prefix": "/"}, "headers": {"x-canary": {"exact": "yes"}}}]
    assert [(e["destination"]["subset"], e["weight"]) for e in http[1]["route"]] == [("stable", 90), ("canary", 10)]

    state, _ = run_traffic(traffic_dags, "traffic_istio_promote")
    assert state == "success"
    http = hook.get("VirtualService", "web", api_version="networking.istio.io/v1")["spec"]["http"]
    assert [r["name"] for r in http] == ["primary"]
    assert [e["weight"] for e in http[0]["route"]] == [0, 100]


def test_templated_weights_come_from_the_run(traffic_dags: dict[str, Any], hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply(VIRTUAL_SERVICE)
    state, xcom = run_traffic(traffic_dags, "traffic_templated", canary=25)
    assert state == "success" and xcom["weights"] == {"stable": 75, "canary": 25}
    http = hook.get("VirtualService", "web", api_version="networking.istio.io/v1")["spec"]["http"]
    assert [e["weight"] for e in http[0]["route"]] == [75, 25]


def test_nginx_router_weight_and_sticky_cookie(traffic_dags: dict[str, Any], hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply(ingress("web", "web-stable", **{"kubernetes.io/ingress.class": "nginx"}))
    hook.server_side_apply(ingress("web-canary", "web-canary", **{CANARY: "true", CANARY_WEIGHT: "0"}))
    state, xcom = run_traffic(traffic_dags, "traffic_nginx_canary")
    assert state == "success" and xcom["verified"] is True and xcom["cookie"] == "canary_user"
    annotations = hook.get("Ingress", "web-canary")["metadata"]["annotations"]
    assert annotations == {CANARY: "true", CANARY_WEIGHT: "20", CANARY_BY_COOKIE: "canary_user",
                           CANARY_BY_HEADER: "X-Canary", CANARY_BY_HEADER_VALUE: "always"}
    assert hook.get("Ingress", "web")["metadata"]["annotations"] == {"kubernetes.io/ingress.class": "nginx"}

    state, _ = run_traffic(traffic_dags, "traffic_nginx_end")
    assert state == "success"
    assert hook.get("Ingress", "web-canary")["metadata"]["annotations"] == {CANARY: "true", CANARY_WEIGHT: "0"}


def test_gateway_router_weights_and_header_rule(traffic_dags: dict[str, Any], hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply(HTTP_ROUTE)
    state, xcom = run_traffic(traffic_dags, "traffic_gateway_canary")
    assert state == "success" and xcom["verified"] is True and xcom["kind"] == "HTTPRoute"
    rules = hook.get("HTTPRoute", "web", api_version="gateway.networking.k8s.io/v1")["spec"]["rules"]
    assert rules[0]["name"] == "airflow-delivery-header"
    assert rules[0]["backendRefs"] == [{"name": "web-canary", "port": 80, "weight": 1}]
    assert rules[1]["backendRefs"] == [{"name": "web-stable", "port": 80, "weight": 70},
                                       {"name": "web-canary", "port": 80, "weight": 30}]


def test_router_refusals_fail_the_task_and_change_nothing(traffic_dags: dict[str, Any],
                                                          hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply(SERVICE)
    before = hook.get("Service", "web")["metadata"]["resourceVersion"]
    state, _ = run_traffic(traffic_dags, "traffic_service_split")
    assert state == "failed"
    assert hook.get("Service", "web")["metadata"]["resourceVersion"] == before


def test_failures_name_the_problem(k8s_conn: str, hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply(SERVICE)
    context: Any = {}
    split = SetTrafficOperator(task_id="split", router="service", kubernetes_conn_id=k8s_conn,
                               router_options={"service": "web", "stable": "v001", "canary": "v002"},
                               canary_weight=10)
    with pytest.raises(UnsupportedTrafficError, match=r"router 'service' cannot split traffic \{'stable': 90, "
                                                      r"'canary': 10\}; routers that can: gateway, istio, nginx"):
        split.execute(context)
    cookie = SetTrafficOperator(task_id="cookie", router="service", kubernetes_conn_id=k8s_conn,
                                router_options={"service": "web"}, cookie="canary")
    with pytest.raises(UnsupportedTrafficError, match="cannot route by cookie"):
        cookie.execute(context)
    missing = SetTrafficOperator(task_id="missing", router="istio", kubernetes_conn_id=k8s_conn, canary_weight=5,
                                 router_options={"virtual_service": "absent", "stable": "web", "canary": "web-c"})
    with pytest.raises(Exception, match="get VirtualService default/absent on connection"):
        missing.execute(context)
    no_version = SetTrafficOperator(task_id="no_version", router="service", kubernetes_conn_id=k8s_conn,
                                    router_options={"service": "web", "stable": "v001"}, canary_weight=100)
    with pytest.raises(RouterConfigError, match="no version given for role 'canary'"):
        no_version.execute(context)
    no_routes = SetTrafficOperator(task_id="no_routes", router="gateway", kubernetes_conn_id=k8s_conn,
                                   canary_weight=5, router_options={"http_route": "web", "stable": "a", "canary": "b"})
    hook.server_side_apply({**HTTP_ROUTE, "spec": {"parentRefs": [{"name": "edge"}], "rules": []}})
    with pytest.raises(TrafficError, match="has no spec.rules"):
        no_routes.execute(context)


def test_static_arguments_are_checked_at_parse_time() -> None:
    with pytest.raises(RouterConfigError, match="unknown traffic router 'envoy'"):
        SetTrafficOperator(task_id="t", router="envoy", canary_weight=5)
    with pytest.raises(ValueError, match="not both"):
        SetTrafficOperator(task_id="t", router="none", canary_weight=5, weights={"stable": 95, "canary": 5})
    with pytest.raises(ValueError, match="nothing to do"):
        SetTrafficOperator(task_id="t", router="none")
