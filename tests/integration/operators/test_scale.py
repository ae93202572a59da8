"""``ScaleManifestOperator`` against the sandbox.

Aspects: a Deployment is scaled and waited for until its new size is ready; a dynamic target scales
the chosen version of a cluster; injected 500s and a slow answer are retried; kinds that cannot scale
and bad replica counts fail before anything changes.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook
from airflow_delivery.operators._kubernetes import ManifestTargetError
from airflow_delivery.operators.scale import ScaleManifestOperator
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.operators.support import context, replicaset, roll_out, run_dag

pytestmark = pytest.mark.integration


def test_scale_waits_until_the_new_size_is_ready(operator_dags: dict[str, Any], hook: DeliveryKubernetesHook) -> None:
    roll_out(hook, "web", ["example.com/web:v1"], replicas=1)
    run = run_dag(operator_dags, "scale", "scale", target="deployment web", replicas="4")
    assert run.task_state == "success", run
    assert (run.value["replicas"], run.value["previous_replicas"], run.value["status"]) == (4, 1, "success")
    live = hook.get("Deployment", "web")
    assert live["spec"]["replicas"] == 4 and live["status"]["readyReplicas"] == 4


def test_dynamic_target_scales_the_chosen_version(operator_dags: dict[str, Any], hook: DeliveryKubernetesHook) -> None:
    for name, replicas in (("api-v001", 1), ("api-v002", 3), ("api-v003", 2)):
        hook.server_side_apply(replicaset(name, replicas=replicas))
    run = run_dag(operator_dags, "scale", "scale", replicas=0,
                  target={"kind": "ReplicaSet", "cluster": "api", "criteria": "largest"})
    assert run.task_state == "success", run
    assert run.value["name"] == "api-v002"
    sizes = {rs["metadata"]["name"]: rs["spec"]["replicas"] for rs in hook.list("ReplicaSet")}
    assert sizes == {"api-v001": 1, "api-v002": 0, "api-v003": 2}
    assert hook.list("Pod", label_selector="version=api-v002") == []  # stable at zero: its pods are gone


@pytest.mark.faults
def test_injected_500s_and_a_slow_answer_are_retried(operator_dags: dict[str, Any], sandbox: SandboxHandle,
                                                     hook: DeliveryKubernetesHook) -> None:
    roll_out(hook, "web", ["example.com/web:v1"], replicas=1)
    sandbox.inject(action="error", status=503, verb="patch", resource="deployments", times=2)
    sandbox.inject(action="error", status=500, verb="get", resource="deployments", times=1)
    assert run_dag(operator_dags, "scale", "scale", target="deployment web", replicas=2).task_state == "success"
    assert sandbox.faults() == []
    sandbox.inject(action="latency", delay=2.5, verb="patch", resource="deployments", times=1)
    run = run_dag(operator_dags, "scale_impatient", "scale", target="deployment web", replicas=3)
    assert run.task_state == "success", run
    assert sandbox.faults() == []
    assert hook.get("Deployment", "web")["status"]["readyReplicas"] == 3


def test_unscalable_targets_and_bad_counts_fail_first(k8s_conn: str, hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})

    def scale(target: Any, replicas: Any) -> None:
        ScaleManifestOperator(task_id="s", kubernetes_conn_id=k8s_conn, target=target, replicas=replicas,
                              wait_for_stable=False).execute(context())

    with pytest.raises(ManifestTargetError, match="s: cannot scale a Service: scalable kinds are Deployment, "
                                                  "StatefulSet, ReplicaSet"):
        scale("service web", 2)
    with pytest.raises(ValueError, match="s: replicas must be a whole number, 0 or more; got 'many'"):
        scale("deployment web", "many")
    with pytest.raises(ValueError, match="replicas must be 0 or more, got -1"):
        ScaleManifestOperator(task_id="s", target="deployment web", replicas=-1)
