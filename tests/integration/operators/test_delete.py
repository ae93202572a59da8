"""``DeleteManifestOperator`` against the sandbox.

Aspects: delete by name (with propagation), by dynamic target (oldest, second newest) and by label
selector across kinds; the XCom lists what was deleted; a missing object fails unless ``missing_ok``;
an empty selector is refused; injected 500s and a slow answer are retried.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook
from airflow_delivery.kubernetes.errors import NotFoundError
from airflow_delivery.operators._kubernetes import ManifestTargetError
from airflow_delivery.operators.delete import DeleteManifestOperator
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.operators.support import context, deployment, replicaset, roll_out, run_dag
from tests.support import wait_until

pytestmark = pytest.mark.integration


def config_map(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels},
            "data": {"k": "v"}}


def gone(hook: DeliveryKubernetesHook, kind: str, name: str) -> bool:
    try:
        hook.get(kind, name)
    except NotFoundError:
        return True
    return False


def test_delete_by_name_removes_it_and_its_pods(operator_dags: dict[str, Any], hook: DeliveryKubernetesHook) -> None:
    roll_out(hook, "web", ["example.com/web:v1"])
    run = run_dag(operator_dags, "delete_target", "delete", target="deployment web")
    assert run.task_state == "success", run
    assert run.value["deleted"] == [{"kind": "Deployment", "name": "web", "namespace": "default"}]
    assert run.value["propagation"] == "Foreground"
    wait_until(lambda: gone(hook, "Deployment", "web") and not hook.list("Pod", label_selector="app=web"),
               timeout=15, message="the Deployment and its pods to be deleted")


def test_a_missing_object_fails_unless_missing_ok(operator_dags: dict[str, Any], k8s_conn: str) -> None:
    assert run_dag(operator_dags, "delete_target", "delete", target="deployment absent").task_state == "failed"
    run = run_dag(operator_dags, "delete_target_missing_ok", "delete", target="deployment absent")
    assert run.task_state == "success", run
    assert (run.value["deleted"], run.value["missing"]) == ([], ["Deployment default/absent"])
    with pytest.raises(NotFoundError, match="d: get Deployment default/absent on connection 'k8s_sandbox' .*404.*"
                                            "set missing_ok to treat an absent object as already deleted"):
        DeleteManifestOperator(task_id="d", kubernetes_conn_id=k8s_conn, target="deployment absent").execute(context())


def test_dynamic_targets_delete_the_chosen_version(operator_dags: dict[str, Any], hook: DeliveryKubernetesHook) -> None:
    for name in ("api-v000", "api-v001", "api-v002"):
        hook.server_side_apply(replicaset(name))
    oldest = run_dag(operator_dags, "delete_target", "delete",
                     target={"kind": "ReplicaSet", "cluster": "api", "criteria": "oldest"})
    assert oldest.value["deleted"] == [{"kind": "ReplicaSet", "name": "api-v000", "namespace": "default"}]
    wait_until(lambda: gone(hook, "ReplicaSet", "api-v000"), timeout=15, message="api-v000 to be deleted")
    second = run_dag(operator_dags, "delete_target_missing_ok", "delete",
                     target={"kind": "ReplicaSet", "cluster": "api", "criteria": "second_newest"})
    assert second.value["deleted"] == [{"kind": "ReplicaSet", "name": "api-v001", "namespace": "default"}]
    assert {rs["metadata"]["name"] for rs in hook.list("ReplicaSet")} == {"api-v002"}


def test_no_matching_version_fails_unless_missing_ok(k8s_conn: str, hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply(replicaset("api-v004"))
    second = {"kind": "ReplicaSet", "cluster": "api", "criteria": "second_newest"}
    with pytest.raises(ManifestTargetError, match=r"has only one version \(api-v004\): there is no second newest"):
        DeleteManifestOperator(task_id="d", kubernetes_conn_id=k8s_conn, target=second).execute(context())
    result = DeleteManifestOperator(task_id="d", kubernetes_conn_id=k8s_conn, target=second,
                                    missing_ok=True).execute(context())
    assert result["deleted"] == [] and "second newest ReplicaSet of cluster 'api'" in result["missing"][0]
    assert [rs["metadata"]["name"] for rs in hook.list("ReplicaSet")] == ["api-v004"]


def test_label_selector_deletes_every_match_of_each_kind(operator_dags: dict[str, Any],
                                                         hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply(deployment("canary", labels={"track": "canary"}))
    hook.server_side_apply(deployment("stable", labels={"track": "stable"}))
    hook.server_side_apply(config_map("canary-config", track="canary"))
    hook.server_side_apply(config_map("other"))
    run = run_dag(operator_dags, "delete_label", "delete", selector={"track": "canary"})
    assert run.task_state == "success", run
    assert sorted((d["kind"], d["name"]) for d in run.value["deleted"]) == [("ConfigMap", "canary-config"),
                                                                             ("Deployment", "canary")]
    wait_until(lambda: gone(hook, "Deployment", "canary"), timeout=15, message="the canary to be deleted")
    assert {d["metadata"]["name"] for d in hook.list("Deployment")} == {"stable"}
    assert {c["metadata"]["name"] for c in hook.list("ConfigMap")} >= {"other"}
    # The same selector again matches nothing: an error, since nothing was deleted and missing_ok is off.
    assert run_dag(operator_dags, "delete_label", "delete", selector="track=canary").task_state == "failed"


def test_empty_selectors_are_refused(k8s_conn: str, hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply(config_map("keep"))
    with pytest.raises(ValueError, match="label_selector is empty; an empty selector would delete every ConfigMap"):
        DeleteManifestOperator(task_id="d", kinds=["ConfigMap"], label_selector={})
    with pytest.raises(ValueError, match="label_selector needs kinds"):
        DeleteManifestOperator(task_id="d", label_selector="app=web")
    with pytest.raises(ValueError, match="give either target .* or kinds \\+ label_selector"):
        DeleteManifestOperator(task_id="d")
    templated = DeleteManifestOperator(task_id="d", kubernetes_conn_id=k8s_conn, kinds=["ConfigMap"],
                                       label_selector="{{ params.selector }}")
    templated.label_selector = "  "  # what the template rendered to
    with pytest.raises(ValueError, match="d: label_selector rendered empty"):
        templated.execute(context())
    assert [c["metadata"]["name"] for c in hook.list("ConfigMap")] == ["keep"]


@pytest.mark.faults
def test_injected_500s_are_retried(operator_dags: dict[str, Any], sandbox: SandboxHandle,
                                   hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply(config_map("old"))
    sandbox.inject(action="error", status=500, verb="delete", resource="configmaps", times=2)
    run = run_dag(operator_dags, "delete_target", "delete", target="configmap old")
    assert run.task_state == "success", run
    assert sandbox.faults() == [] and gone(hook, "ConfigMap", "old")


@pytest.mark.faults
def test_a_slow_delete_is_retried(operator_dags: dict[str, Any], sandbox: SandboxHandle,
                                                          hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply(config_map("old"))
    # Answered after 2.5 s (the operator waits 1 s): sent again. Whichever attempt deletes it, the other's
    # 404 must not fail the stage.
    sandbox.inject(action="latency", delay=2.5, verb="delete", resource="configmaps", times=1)
    run = run_dag(operator_dags, "delete_impatient", "delete", target="configmap old")
    assert run.task_state == "success", run
    assert run.value["deleted"] == [{"kind": "ConfigMap", "name": "old", "namespace": "default"}]
    assert sandbox.faults() == [] and gone(hook, "ConfigMap", "old")
