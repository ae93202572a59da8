"""``FindArtifactsFromResourceOperator`` against the sandbox.

Aspects: a live Deployment's images (with repository, tag and digest, init containers included), the
ConfigMaps and Secrets it reads (names and where), the XCom shape; a dynamic target reads the chosen
version; Secret content never reaches XCom; objects without a pod template and missing objects fail
with what to do.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook
from airflow_delivery.kubernetes.errors import NotFoundError
from airflow_delivery.kubernetes.resource_artifacts import NotAWorkloadError
from airflow_delivery.operators.find_artifacts import FindArtifactsFromResourceOperator
from tests.integration.operators.support import context, deployment, replicaset, run_dag

pytestmark = pytest.mark.integration

DIGEST = "sha256:" + "a" * 64
SECRET_VALUE = "hunter2-not-for-xcom"


def production() -> dict[str, Any]:
    manifest = deployment("web", f"registry.example.com:5000/team/web:1.4.2@{DIGEST}")
    pod = manifest["spec"]["template"]["spec"]
    pod["initContainers"] = [{"name": "migrate", "image": "busybox:1.36"}]
    pod["containers"][0]["envFrom"] = [{"configMapRef": {"name": "web-config"}}]
    pod["containers"][0]["env"] = [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}]
    pod["volumes"] = [{"name": "tls", "secret": {"secretName": "web-tls"}},
                      {"name": "cfg", "configMap": {"name": "web-config"}}]
    return manifest


def test_images_configmaps_and_secrets_of_a_live_deployment(operator_dags: dict[str, Any],
                                                            hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
                            "stringData": {"pw": SECRET_VALUE}})
    hook.server_side_apply(production())
    run = run_dag(operator_dags, "find_artifacts", "find", target="deployment web")
    assert run.task_state == "success", run
    value = run.value
    assert value["resource"]["kind"] == "Deployment" and value["resource"]["name"] == "web"
    assert value["images"] == [
        {"type": "docker/image", "container": "migrate", "reference": "busybox:1.36", "repository": "busybox",
         "tag": "1.36", "digest": None},
        {"type": "docker/image", "container": "app", "reference": f"registry.example.com:5000/team/web:1.4.2@{DIGEST}",
         "repository": "registry.example.com:5000/team/web", "tag": "1.4.2", "digest": DIGEST},
    ]
    assert [(c["name"], len(c["paths"])) for c in value["config_maps"]] == [("web-config", 2)]
    assert sorted(s["name"] for s in value["secrets"]) == ["db", "web-tls"]
    assert len(value["artifacts"]) == 5 and value["kubernetes_conn_id"] == "k8s_sandbox"
    assert SECRET_VALUE not in json.dumps(value)


def test_dynamic_target_reads_the_newest_version(k8s_conn: str, hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply(replicaset("api-v001", "example.com/api:1"))
    hook.server_side_apply(replicaset("api-v002", "example.com/api:2"))
    found = FindArtifactsFromResourceOperator(task_id="f", kubernetes_conn_id=k8s_conn,
                                              target={"kind": "ReplicaSet", "cluster": "api",
                                                      "criteria": "newest"}).execute(context())
    assert found["resource"]["name"] == "api-v002"
    assert [i["tag"] for i in found["images"]] == ["2"]


def test_non_workloads_and_missing_objects_fail(k8s_conn: str, hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    with pytest.raises(NotAWorkloadError, match="f: Service 'web' has no pod template, so it has no images to find"):
        FindArtifactsFromResourceOperator(task_id="f", kubernetes_conn_id=k8s_conn,
                                          target="service web").execute(context())
    with pytest.raises(NotFoundError, match="get Deployment default/absent on connection 'k8s_sandbox'"):
        FindArtifactsFromResourceOperator(task_id="f", kubernetes_conn_id=k8s_conn,
                                          target="deployment absent").execute(context())
