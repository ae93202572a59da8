"""``DeployManifestOperator`` strategies through ``dag.test()`` against the sandbox.

Aspects: rolling (Kubernetes' own rollout, versioned ConfigMaps, delivery labels and annotations,
artifact binding from the run's conf), red/black (a new ``-vNNN`` Deployment per release, the Service
switched once the new version is stable, older versions kept but receiving no traffic, a Service named
by the stage), highlander (older versions deleted), ``max_version_history`` pruning (configs in use by
kept versions stay), a failed rollout leaving traffic where it was, and the XCom result.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook
from airflow_delivery.kubernetes.manifests import (
    APP_LABEL,
    ARTIFACTS_ANNOTATION,
    MANAGED_BY_LABEL,
    PIPELINE_ANNOTATION,
    RUN_ANNOTATION,
    STAGE_ANNOTATION,
)
from airflow_delivery.kubernetes.versioning import VERSION_LABEL
from tests.integration.deploy.dagtest import run
from tests.integration.deploy.workloads import config_map, deployment, service
from tests.support import wait_until

pytestmark = pytest.mark.integration

IMAGE = "registry.example.com/web"


def app(tag: str = "v1", greeting: str = "hello", *, image: str = IMAGE) -> list[dict[str, Any]]:
    workload = deployment(image=f"{image}:latest")
    workload["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": "web-config"}}]
    return [config_map(greeting=greeting), workload, service()]


def names(hook: DeliveryKubernetesHook, kind: str) -> list[str]:
    return sorted(o["metadata"]["name"] for o in hook.list(kind))


def selected_version(hook: DeliveryKubernetesHook) -> str | None:
    return hook.get("Service", "web")["spec"]["selector"].get(VERSION_LABEL)


def test_rolling_deploy_binds_the_artifact_and_records_who_deployed(
        deploy_dags: dict, hook: DeliveryKubernetesHook) -> None:
    state, result, ti = run("deploy_rolling", manifests=app(), artifacts={"web": "v1"})
    assert state == "success", result
    live = hook.get("Deployment", "web")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:v1"
    # ConfigMaps are versioned even in a rolling deploy, and the pod template points at the version.
    assert live["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [{"configMapRef": {"name": "web-config-v000"}}]
    assert [n for n in names(hook, "ConfigMap") if n.startswith("web")] == ["web-config-v000"]
    labels, annotations = live["metadata"]["labels"], live["metadata"]["annotations"]
    assert labels[MANAGED_BY_LABEL] == "airflow-delivery" and labels[APP_LABEL] == "deploy_rolling"
    assert annotations[PIPELINE_ANNOTATION] == "deploy_rolling" and annotations[STAGE_ANNOTATION] == "deploy"
    assert annotations[RUN_ANNOTATION] == ti.run_id
    assert annotations[ARTIFACTS_ANNOTATION] == '{"web":"registry.example.com/web:v1"}'

    assert result["status"] == "success" and result["strategy"] == "rolling"
    assert result["artifacts"] == {"web": f"{IMAGE}:v1"}
    assert [(a["kind"], a["name"], a["version"]) for a in result["applied"]] == [
        ("ConfigMap", "web-config-v000", 0), ("Deployment", "web", None), ("Service", "web", None)]
    assert result["stable"]["Deployment/default/web"]["state"] == "stable"
    assert result["hash"].startswith("sha256:")

    # A new release with new configuration: a new ConfigMap version, the same Deployment rolled.
    state, result, _ = run("deploy_rolling", manifests=app(greeting="bonjour"), artifacts={"web": "v2"})
    assert state == "success", result
    live = hook.get("Deployment", "web")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:v2"
    assert live["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"] == "web-config-v001"
    assert hook.get("ConfigMap", "web-config-v000")["data"] == {"greeting": "hello"}  # kept for a rollback


def test_redblack_switches_traffic_once_the_new_version_is_stable(
        deploy_dags: dict, hook: DeliveryKubernetesHook) -> None:
    state, first, _ = run("deploy_redblack", manifests=app(), artifacts={"web": "v1"})
    assert state == "success", first
    assert names(hook, "Deployment") == ["web-v000"]
    assert selected_version(hook) == "v000"
    assert first["traffic"] == [{"service": "web", "namespace": "default", "workload_kind": "Deployment",
                                 "workload": "web-v000", "base": "web", "version": "v000", "previous": None}]

    state, second, _ = run("deploy_redblack", manifests=app(greeting="bonjour"), artifacts={"web": "v2"})
    assert state == "success", second
    assert names(hook, "Deployment") == ["web-v000", "web-v001"]  # the old version stays, for a rollback
    assert selected_version(hook) == "v001"
    assert second["traffic"][0]["previous"] == "v000" and second["traffic"][0]["version"] == "v001"
    new = hook.get("Deployment", "web-v001")
    assert new["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:v2"
    assert new["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"] == "web-config-v001"
    # The Service's other selector labels are the manifest's, untouched by the switch.
    assert hook.get("Service", "web")["spec"]["selector"]["app"] == "web"
    assert {(a["kind"], a["name"], a["reused"]) for a in second["applied"] if a["base"]} == {
        ("ConfigMap", "web-config-v001", False), ("Deployment", "web-v001", False)}


def test_redblack_failed_rollout_leaves_traffic_on_the_old_version(
        deploy_dags: dict, hook: DeliveryKubernetesHook) -> None:
    assert run("deploy_redblack", manifests=app(), artifacts={"web": "v1"})[0] == "success"
    broken = app()
    broken[1]["spec"]["progressDeadlineSeconds"] = 1
    state, result, _ = run("deploy_redblack", manifests=broken, artifacts={"web": "broken"})
    assert state == "failed"
    assert result["status"] == "failed" and result["failure_reason"] in ("ImagePullBackOff", "ErrImagePull")
    assert "registry.example.com/web:broken" in result["reason"]
    assert selected_version(hook) == "v000"  # traffic never moved
    assert names(hook, "Deployment") == ["web-v000", "web-v001"]


def test_redblack_switches_a_service_named_by_the_stage(deploy_dags: dict, hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply(service(), field_manager="platform-team")
    manifests = app()[:2]  # no Service in the manifests: the stage names the live one
    state, result, _ = run("deploy_redblack_live_service", manifests=manifests, artifacts={"web": "v1"})
    assert state == "success", result
    assert selected_version(hook) == "v000"
    assert [t["service"] for t in result["traffic"]] == ["web"]


def test_highlander_deletes_older_versions_once_the_new_one_is_stable(
        deploy_dags: dict, hook: DeliveryKubernetesHook) -> None:
    assert run("deploy_highlander", manifests=app(), artifacts={"web": "v1"})[0] == "success"
    state, result, _ = run("deploy_highlander", manifests=app(greeting="hi"), artifacts={"web": "v2"})
    assert state == "success", result
    assert names(hook, "Deployment") == ["web-v001"]
    assert result["deleted"] == ["Deployment/default/web-v000"]
    assert selected_version(hook) == "v001"
    wait_until(lambda: not [p for p in hook.list("Pod") if p["metadata"]["labels"].get(VERSION_LABEL) == "v000"],
               timeout=10, message="the pods of web-v000 to be garbage-collected")


def test_max_version_history_prunes_old_versions_but_keeps_configs_in_use(
        deploy_dags: dict, hook: DeliveryKubernetesHook) -> None:
    for release, greeting in enumerate(["a", "b", "c"], start=1):
        state, result, _ = run("deploy_redblack_history", manifests=app(greeting=greeting),
                               artifacts={"web": f"v{release}"})
        assert state == "success", result
    assert names(hook, "Deployment") == ["web-v001", "web-v002"]
    assert "web-config-v000" not in names(hook, "ConfigMap")
    assert {"web-config-v001", "web-config-v002"} <= set(names(hook, "ConfigMap"))
    assert sorted(result["pruned"]) == ["ConfigMap/default/web-config-v000", "Deployment/default/web-v000"]


def test_rolling_max_version_history_prunes_configs(deploy_dags: dict, hook: DeliveryKubernetesHook) -> None:
    for greeting in ["a", "b", "c"]:
        assert run("deploy_rolling_history", manifests=[config_map(greeting=greeting)])[0] == "success"
    assert [n for n in names(hook, "ConfigMap") if n.startswith("web-config")] == ["web-config-v001",
                                                                                    "web-config-v002"]
