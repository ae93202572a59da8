"""``PatchManifestOperator`` against the sandbox.

Aspects: strategic, merge and JSON patches change the object; a workload is waited for until stable
(deferred) and a Service is not; ``record`` writes ``kubernetes.io/change-cause`` (seen by ``kubectl
rollout history``) but never a Secret's patch; a dynamic target patches the chosen version only;
injected 500s and a slow answer are retried and the change applied once; a JSON patch is not
repeated after a 500; bad patches and missing objects fail with what to fix.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook
from airflow_delivery.kubernetes.errors import NotFoundError, ServerError
from airflow_delivery.kubernetes.rollout import CHANGE_CAUSE_ANNOTATION
from airflow_delivery.operators._kubernetes import ManifestTargetError
from airflow_delivery.operators.patch import PatchManifestOperator
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.operators.support import context, deployment, image_of, replicaset, roll_out, run_dag

pytestmark = pytest.mark.integration

IMAGE_V2 = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "example.com/web:v2"}]}}}}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web", "version": "v1"}, "ports": [{"port": 80}]}}


def test_strategic_patch_rolls_out_records_the_cause_and_waits(operator_dags: dict[str, Any], sandbox: SandboxHandle,
                                                               hook: DeliveryKubernetesHook) -> None:
    roll_out(hook, "web", ["example.com/web:v1"])
    run = run_dag(operator_dags, "patch_strategic", "patch", target="deployment web", patch=IMAGE_V2)
    assert (run.state, run.task_state) == ("success", "success"), run
    assert run.value["status"] == "success"
    assert run.value["stable"]["Deployment/default/web"]["state"] == "stable"
    assert (run.value["kind"], run.value["name"], run.value["recorded"]) == ("Deployment", "web", True)
    live = hook.get("Deployment", "web")
    assert image_of(live) == "example.com/web:v2"
    assert live["status"]["updatedReplicas"] == live["status"]["readyReplicas"] == 2  # it really waited
    cause = live["metadata"]["annotations"][CHANGE_CAUSE_ANNOTATION]
    assert cause.startswith(f"airflow-delivery patch_strategic.patch run {run.dag_run.run_id}: strategic patch")
    assert "example.com/web:v2" in cause
    history = sandbox.kubectl("rollout", "history", "deployment/web").stdout
    assert "strategic patch" in history.strip().splitlines()[-1], history


def test_merge_patch_of_a_service_does_not_wait(operator_dags: dict[str, Any], hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply(SERVICE)
    run = run_dag(operator_dags, "patch_merge", "patch", target={"kind": "Service", "name": "web"},
                  patch={"spec": {"selector": {"version": "v2"}}})
    assert run.task_state == "success", run
    assert "stable" not in run.value  # a Service has no rollout
    assert hook.get("Service", "web")["spec"]["selector"] == {"app": "web", "version": "v2"}


def test_json_patch_changes_replicas_and_records_separately(operator_dags: dict[str, Any],
                                                            hook: DeliveryKubernetesHook) -> None:
    roll_out(hook, "web", ["example.com/web:v1"])
    run = run_dag(operator_dags, "patch_json", "patch", target="deployment web",
                  patch=[{"op": "replace", "path": "/spec/replicas", "value": 3}])
    assert run.task_state == "success", run
    live = hook.get("Deployment", "web")
    assert live["spec"]["replicas"] == 3 and live["status"]["readyReplicas"] == 3
    assert "json patch" in live["metadata"]["annotations"][CHANGE_CAUSE_ANNOTATION]


def test_dynamic_target_patches_the_chosen_version_only(k8s_conn: str, hook: DeliveryKubernetesHook) -> None:
    for name in ("api-v000", "api-v001", "api-v002"):
        hook.server_side_apply(replicaset(name))
    operator = PatchManifestOperator(task_id="label", kubernetes_conn_id=k8s_conn, patch_type="merge",
                                     target={"kind": "ReplicaSet", "cluster": "api", "criteria": "second_newest"},
                                     patch={"metadata": {"labels": {"traffic": "off"}}}, wait_for_stable=False)
    result = operator.execute(context())
    assert result["name"] == "api-v001"
    labelled = {rs["metadata"]["name"] for rs in hook.list("ReplicaSet", label_selector="traffic=off")}
    assert labelled == {"api-v001"}


def test_secret_patches_are_never_recorded(k8s_conn: str, hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
                            "stringData": {"password": "old"}})
    operator = PatchManifestOperator(task_id="rotate", kubernetes_conn_id=k8s_conn, target="secret db",
                                     patch_type="merge", patch={"stringData": {"password": "s3cr3t-value"}})
    result = operator.execute(context())
    assert "s3cr3t-value" not in json.dumps(result)
    cause = hook.get("Secret", "db")["metadata"]["annotations"][CHANGE_CAUSE_ANNOTATION]
    assert cause.endswith("merge patch") and "s3cr3t" not in cause


@pytest.mark.faults
def test_injected_500s_on_the_patch_are_retried(operator_dags: dict[str, Any], sandbox: SandboxHandle,
                                                hook: DeliveryKubernetesHook) -> None:
    roll_out(hook, "web", ["example.com/web:v1"])
    sandbox.inject(action="error", status=500, verb="patch", resource="deployments", times=2)
    run = run_dag(operator_dags, "patch_strategic", "patch", target="deployment web", patch=IMAGE_V2)
    assert run.task_state == "success", run
    assert sandbox.faults() == []  # both failures were hit, and retried past
    assert image_of(hook.get("Deployment", "web")) == "example.com/web:v2"


@pytest.mark.faults
def test_a_slow_answer_is_retried_and_applied_once(operator_dags: dict[str, Any], sandbox: SandboxHandle,
                                                   hook: DeliveryKubernetesHook) -> None:
    roll_out(hook, "web", ["example.com/web:v1"])
    generation = hook.get("Deployment", "web")["metadata"]["generation"]
    # The first PATCH is answered after 2.5 s, past the operator's 1 s request timeout: it is sent again.
    sandbox.inject(action="latency", delay=2.5, verb="patch", resource="deployments", times=1)
    run = run_dag(operator_dags, "patch_impatient", "patch", target="deployment web", patch=IMAGE_V2)
    assert run.task_state == "success", run
    assert sandbox.faults() == []
    live = hook.get("Deployment", "web")
    assert image_of(live) == "example.com/web:v2"
    assert live["metadata"]["generation"] == generation + 1  # the repeat changed nothing more


@pytest.mark.faults
def test_a_json_patch_is_not_repeated_after_a_500(k8s_conn: str, sandbox: SandboxHandle,
                                                  hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply(deployment("web"))
    sandbox.inject(action="error", status=500, verb="patch", resource="deployments", times=1)
    operator = PatchManifestOperator(task_id="grow", kubernetes_conn_id=k8s_conn, target="deployment web",
                                     patch_type="json", wait_for_stable=False,
                                     patch=[{"op": "add", "path": "/spec/template/spec/containers/-",
                                             "value": {"name": "sidecar", "image": "envoy:1"}}])
    with pytest.raises(ServerError, match=r"json-patch Deployment default/web on connection 'k8s_sandbox'"):
        operator.execute(context())
    assert len(hook.get("Deployment", "web")["spec"]["template"]["spec"]["containers"]) == 1


def test_bad_patches_and_targets_name_the_problem(k8s_conn: str, hook: DeliveryKubernetesHook) -> None:
    def patch(**arguments: Any) -> None:
        PatchManifestOperator(task_id="p", kubernetes_conn_id=k8s_conn, wait_for_stable=False,
                              **arguments).execute(context())

    with pytest.raises(ValueError, match="patch_type 'xml' must be one of strategic, merge, json"):
        PatchManifestOperator(task_id="p", target="deployment web", patch={"a": 1}, patch_type="xml")
    with pytest.raises(ValueError, match="p: a json patch is a non-empty list of operations"):
        patch(target="deployment web", patch={"spec": {}}, patch_type="json")
    with pytest.raises(ValueError, match="p: a strategic patch is a non-empty mapping"):
        patch(target="deployment web", patch="[1, 2]")
    with pytest.raises(ValueError, match="p: the patch is not valid YAML or JSON"):
        patch(target="deployment web", patch="{spec: [")
    with pytest.raises(ManifestTargetError, match="p: target 'web': write 'KIND NAME'"):
        patch(target="web", patch={"spec": {"replicas": 1}})
    with pytest.raises(NotFoundError, match="strategic-patch Deployment default/absent on connection 'k8s_sandbox'"):
        patch(target="deployment absent", patch={"spec": {"replicas": 1}})
    with pytest.raises(ManifestTargetError, match="no version of ReplicaSet 'api' exists"):
        patch(target={"kind": "ReplicaSet", "cluster": "api", "criteria": "newest"}, patch={"spec": {"replicas": 1}})
