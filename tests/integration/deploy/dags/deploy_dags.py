"""DAGs for the deploy tests (a dag bundle of their own, parsed by ``dag.test()``).

Manifests, artifacts and options mostly come from the run's conf, rendered as native objects, so one
DAG serves many scenarios of ``tests/integration/deploy/test_deploy_operator.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG

from airflow_delivery.operators.deploy import DeployManifestOperator
from airflow_delivery.operators.stable import WaitForStableOperator

CONN_ID = "k8s_sandbox"
START = datetime(2024, 1, 1, tzinfo=UTC)
WEB = {"name": "web", "repository": "registry.example.com/web"}
TIMEOUT = timedelta(seconds=20)
FROM_CONF = "{{ dag_run.conf['manifests'] }}"


def dag(dag_id: str) -> DAG:
    return DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False, tags=["test"],
               render_template_as_native_obj=True)


def deploy(**options: object) -> DeployManifestOperator:
    options.setdefault("task_id", "deploy")
    options.setdefault("timeout", TIMEOUT)
    return DeployManifestOperator(kubernetes_conn_id=CONN_ID, poll_interval=0.1, **options)  # type: ignore[arg-type]


with dag("deploy_rolling"):
    deploy(manifests=FROM_CONF, artifacts=[{**WEB, "required": False}])

with dag("deploy_rolling_short_timeout"):
    deploy(manifests=FROM_CONF, timeout=timedelta(seconds=2))

with dag("deploy_rolling_history"):
    deploy(manifests=FROM_CONF, max_version_history=2)

with dag("deploy_redblack"):
    deploy(manifests=FROM_CONF, strategy="redblack", artifacts=[WEB])

with dag("deploy_redblack_history"):
    deploy(manifests=FROM_CONF, strategy="redblack", artifacts=[WEB], max_version_history=2)

with dag("deploy_redblack_live_service"):
    deploy(manifests=FROM_CONF, strategy="redblack", artifacts=[WEB], traffic_services=["web"])

with dag("deploy_highlander"):
    deploy(manifests=FROM_CONF, strategy="highlander", artifacts=[WEB])

with dag("deploy_explicit_artifacts"):
    deploy(manifests=FROM_CONF, artifacts=[WEB], bound_artifacts={"web": "{{ dag_run.conf['tag'] }}"})

with dag("deploy_namespace_override"):
    deploy(manifests=FROM_CONF, namespace="{{ dag_run.conf['namespace'] }}")

with dag("deploy_forced"):
    deploy(manifests=FROM_CONF, force=True)

with dag("deploy_flaky_api"):
    # A short per-request timeout, so injected latency makes the client give up and retry.
    deploy(manifests=FROM_CONF, request_timeout=1.0)

with dag("deploy_from_file"):
    deploy(manifest_file="web.yaml")

with dag("deploy_no_wait"):
    deploy(manifests=FROM_CONF, wait_for_stable=False)

with dag("wait_for_stable"):
    WaitForStableOperator(task_id="wait", targets="{{ dag_run.conf['targets'] }}", kubernetes_conn_id=CONN_ID,
                          timeout=timedelta(seconds=3), poll_interval=0.1)
