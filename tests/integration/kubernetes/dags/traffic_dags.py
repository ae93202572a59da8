"""DAGs for the SetTrafficOperator tests (an Airflow dag bundle of their own, parsed by ``dag.test()``).

Each DAG is one scenario of ``tests/integration/kubernetes/test_set_traffic.py``; they act on the
sandbox through the ``k8s_sandbox`` connection that the tests define.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG

from airflow_delivery.operators.traffic import SetTrafficOperator

CONN_ID = "k8s_sandbox"
START = datetime(2024, 1, 1, tzinfo=UTC)

SERVICE_OPTIONS = {"service": "web", "stable": "v001", "canary": "v002"}
ISTIO_OPTIONS = {"virtual_service": "web", "stable": {"host": "web", "subset": "stable"},
                 "canary": {"host": "web", "subset": "canary"}}
NGINX_OPTIONS = {"canary_ingress": "web-canary", "stable_ingress": "web"}
GATEWAY_OPTIONS = {"http_route": "web", "stable": {"name": "web-stable", "port": 80},
                   "canary": {"name": "web-canary", "port": 80}}

SCENARIOS: dict[str, dict] = {
    "traffic_service_switch": {"router": "service", "router_options": SERVICE_OPTIONS,
                               "weights": {"stable": 0, "canary": 100}},
    "traffic_service_rollback": {"router": "service", "router_options": SERVICE_OPTIONS, "canary_weight": 0},
    "traffic_service_split": {"router": "service", "router_options": SERVICE_OPTIONS, "canary_weight": 10},
    "traffic_istio_canary": {"router": "istio", "router_options": ISTIO_OPTIONS, "canary_weight": 10,
                             "header_route": {"name": "x-canary", "value": "yes"}},
    "traffic_istio_promote": {"router": "istio", "router_options": ISTIO_OPTIONS,
                              "weights": {"stable": 0, "canary": 100}, "remove_managed_routes": True},
    "traffic_nginx_canary": {"router": "nginx", "router_options": NGINX_OPTIONS, "canary_weight": 20,
                             "cookie": "canary_user", "header_route": {"name": "X-Canary", "value": "always"}},
    "traffic_nginx_end": {"router": "nginx", "router_options": NGINX_OPTIONS, "canary_weight": 0,
                          "remove_managed_routes": True},
    "traffic_gateway_canary": {"router": "gateway", "router_options": GATEWAY_OPTIONS,
                               "weights": {"stable": 70, "canary": 30},
                               "header_route": {"name": "X-Canary", "value": "1"}},
    # Templated weights: the canary share comes from the run's conf.
    "traffic_templated": {"router": "istio", "router_options": ISTIO_OPTIONS,
                          "canary_weight": "{{ dag_run.conf['canary'] }}"},
}

for dag_id, arguments in SCENARIOS.items():
    with DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False, tags=["test"]) as dag:
        SetTrafficOperator(task_id="traffic", kubernetes_conn_id=CONN_ID, **arguments)
    globals()[dag_id] = dag
