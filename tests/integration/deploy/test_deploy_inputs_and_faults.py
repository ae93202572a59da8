"""``DeployManifestOperator`` inputs, bad input and API faults, through ``dag.test()`` against the sandbox.

Aspects: manifests from YAML text, a file and a Bake stage; explicit artifact bindings; a namespace
override; required artifacts that are not bound (nothing applied, each one named with where it was
expected); invalid YAML and documents missing kind/apiVersion/metadata.name (named, nothing applied);
a document the API rejects in the dry run (nothing applied); a field-manager conflict (a clear error,
or forced); API 500s and timeouts during apply (retried, applied once in effect); idempotent retries,
including after a half-applied set; Secrets deployed without their data reaching XCom or logs; not
waiting; and the stand-alone wait-for-stable stage.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook
from airflow_delivery.kubernetes.manifests import dump_manifests
from airflow_delivery.kubernetes.versioning import VERSION_LABEL
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.deploy.dagtest import run
from tests.integration.deploy.workloads import config_map, deployment, service

pytestmark = pytest.mark.integration

IMAGE = "registry.example.com/web"


def output_of(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> str:
    return caplog.text + "".join(capfd.readouterr())


def nothing_applied(hook: DeliveryKubernetesHook, namespace: str = "default") -> bool:
    return not hook.list("Deployment", namespace) and not [
        c for c in hook.list("ConfigMap", namespace) if c["metadata"]["name"].startswith("web")]


# -- inputs -------------------------------------------------------------------------------------------

def test_yaml_text_with_explicit_artifact_binding(deploy_dags: dict, hook: DeliveryKubernetesHook) -> None:
    text = dump_manifests([deployment(image=f"{IMAGE}:latest")])
    state, result, _ = run("deploy_explicit_artifacts", manifests=text, tag="v9",
                           artifacts={"web": "v1"})  # the stage's explicit binding wins over the run's
    assert state == "success", result
    assert hook.get("Deployment", "web")["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:v9"
    assert result["bindings"][0]["before"] == f"{IMAGE}:latest" and result["bindings"][0]["after"] == f"{IMAGE}:v9"


def test_manifest_file_next_to_the_dag(deploy_dags: dict, hook: DeliveryKubernetesHook) -> None:
    state, result, _ = run("deploy_from_file")
    assert state == "success", result
    live = hook.get("Deployment", "file-web")
    assert live["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"] == "file-config-v000"


def test_namespace_override(deploy_dags: dict, hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    state, result, _ = run("deploy_namespace_override", manifests=[deployment(namespace="elsewhere"), service()],
                           namespace="team-a")
    assert state == "success", result
    assert hook.get("Deployment", "web", "team-a") and hook.get("Service", "web", "team-a")
    assert result["namespace"] == "team-a" and {a["namespace"] for a in result["applied"]} == {"team-a"}


def test_no_wait_returns_at_once(deploy_dags: dict, hook: DeliveryKubernetesHook) -> None:
    state, result, _ = run("deploy_no_wait", manifests=[deployment(image="web:broken")])
    assert state == "success" and result["status"] == "skipped"
    assert hook.get("Deployment", "web")


def test_secrets_are_deployed_but_their_data_never_shown(
        deploy_dags: dict, hook: DeliveryKubernetesHook, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
              "stringData": {"password": "hunter2-very-secret"}}
    state, result, _ = run("deploy_rolling", manifests=[secret, deployment()])
    assert state == "success", result
    assert hook.get("Secret", "db-v000")  # versioned, like ConfigMaps
    assert "hunter2" not in repr(result)
    assert "hunter2" not in output_of(caplog, capfd)


# -- bad input: nothing applied -------------------------------------------------------------------------

def test_unbound_required_artifacts_fail_before_anything_is_applied(
        deploy_dags: dict, hook: DeliveryKubernetesHook, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    manifests = [config_map(), deployment(image=f"{IMAGE}:latest")]
    state, result, _ = run("deploy_redblack", manifests=manifests)  # no artifacts in the run
    assert state == "failed" and result is None
    output = output_of(caplog, capfd)
    assert "1 required artifact(s) not bound" in output
    assert "'web' (registry.example.com/web) expected by: document 2 Deployment 'web' container 'main'" in output
    assert nothing_applied(hook)


def test_invalid_yaml_names_the_document_and_applies_nothing(
        deploy_dags: dict, hook: DeliveryKubernetesHook, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    text = dump_manifests([config_map()]) + "---\nkind: Deployment\nmetadata:\n  name: web\n   bad: indent\n"
    state, _, _ = run("deploy_rolling", manifests=text)
    assert state == "failed"
    output = output_of(caplog, capfd)
    assert "deploy.manifests, document 2" in output and "invalid YAML at line" in output
    assert nothing_applied(hook)


@pytest.mark.parametrize(("broken", "field"), [
    ({"apiVersion": None}, "apiVersion: is missing"),
    ({"kind": None}, "kind: is missing"),
    ({"metadata": {"labels": {"app": "web"}}}, "metadata.name: is missing"),
])
def test_missing_fields_name_the_document_and_apply_nothing(
        deploy_dags: dict, hook: DeliveryKubernetesHook, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str], broken: dict, field: str) -> None:
    bad = {k: v for k, v in {**deployment(), **broken}.items() if v is not None}
    state, _, _ = run("deploy_rolling", manifests=[config_map(), bad])
    assert state == "failed"
    output = output_of(caplog, capfd)
    assert "document 2" in output and field in output
    assert nothing_applied(hook)


def test_a_document_the_api_rejects_applies_nothing(
        deploy_dags: dict, hook: DeliveryKubernetesHook, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    bad = deployment()
    bad["spec"]["selector"] = {"matchLabels": {"app": "other"}}  # does not match the template: 422
    state, _, _ = run("deploy_rolling", manifests=[config_map(), bad])
    assert state == "failed"
    output = output_of(caplog, capfd)
    assert "dry run" in output and "rejected 1 of 2 documents, so nothing was applied" in output
    assert "document 2 (Deployment default/web)" in output
    assert nothing_applied(hook)


# -- field managers -------------------------------------------------------------------------------------

def test_field_manager_conflict_is_a_clear_error_or_forced(
        deploy_dags: dict, hook: DeliveryKubernetesHook, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    hook.server_side_apply(deployment(replicas=5), field_manager="kubectl-edit")
    state, _, _ = run("deploy_rolling", manifests=[deployment(replicas=2)])
    assert state == "failed"
    output = output_of(caplog, capfd)
    assert "conflicts with fields owned by 'kubectl-edit'" in output and "Set force=True" in output
    assert hook.get("Deployment", "web")["spec"]["replicas"] == 5  # unchanged

    state, result, _ = run("deploy_forced", manifests=[deployment(replicas=2)])
    assert state == "success", result
    assert hook.get("Deployment", "web")["spec"]["replicas"] == 2


# -- API faults -----------------------------------------------------------------------------------------

def test_server_errors_during_apply_are_retried(
        deploy_dags: dict, hook: DeliveryKubernetesHook, sandbox: SandboxHandle) -> None:
    sandbox.inject(action="error", status=500, verb="patch", resource="deployments", times=3)
    sandbox.inject(action="error", status=503, verb="list", resource="configmaps", times=2)
    state, result, _ = run("deploy_rolling", manifests=[config_map(), deployment()])
    assert state == "success", result
    assert sandbox.faults() == []
    live = hook.get("Deployment", "web")
    assert live["metadata"]["generation"] == 1  # applied once in effect
    assert len(hook.list("ReplicaSet")) == 1


def test_timeouts_during_apply_are_retried_without_changing_the_result(
        deploy_dags: dict, hook: DeliveryKubernetesHook, sandbox: SandboxHandle, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    # The Deployment is in a namespace the batch creates, so only the real apply sends it (no dry run):
    # the server applies it after 2 s, the client gave up after 1 s and sends it again.
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-t"}}
    sandbox.inject(action="latency", delay=2.0, verb="patch", resource="deployments", times=1)
    state, result, _ = run("deploy_flaky_api", manifests=[namespace, deployment(namespace="team-t")])
    assert state == "success", result
    assert sandbox.faults() == []
    output = output_of(caplog, capfd)
    assert "apply Deployment team-t/web on connection 'k8s_sandbox': got no complete answer" in output
    assert "retrying in" in output
    live = hook.get("Deployment", "web", "team-t")
    assert live["metadata"]["generation"] == 1  # sent twice, applied once in effect
    assert len(hook.list("ReplicaSet", "team-t")) == 1


def test_rollout_failure_within_the_stage_timeout_is_explained(
        deploy_dags: dict, hook: DeliveryKubernetesHook) -> None:
    state, result, _ = run("deploy_rolling_short_timeout", manifests=[deployment(image="web:unready")])
    assert state == "failed"
    assert result["status"] == "timeout" and result["failure_reason"] == "ReadinessProbeFailed"


# -- idempotent retries ---------------------------------------------------------------------------------

def test_a_retried_deploy_reuses_its_versions(deploy_dags: dict, hook: DeliveryKubernetesHook) -> None:
    manifests = [config_map(), deployment(image=f"{IMAGE}:latest"), service()]
    first = run("deploy_redblack", manifests=manifests, artifacts={"web": "v1"})
    second = run("deploy_redblack", manifests=manifests, artifacts={"web": "v1"})
    assert first[0] == second[0] == "success"
    assert sorted(o["metadata"]["name"] for o in hook.list("Deployment")) == ["web-v000"]
    assert [c["metadata"]["name"] for c in hook.list("ConfigMap") if c["metadata"]["name"].startswith("web")] == [
        "web-config-v000"]
    assert all(a["reused"] for a in second[1]["applied"] if a["base"])
    assert second[1]["hash"] == first[1]["hash"]
    assert hook.get("Service", "web")["spec"]["selector"][VERSION_LABEL] == "v000"


def test_a_retry_after_a_half_applied_deploy_completes_the_same_version(
        deploy_dags: dict, hook: DeliveryKubernetesHook, sandbox: SandboxHandle) -> None:
    # Documents in a namespace the batch creates are checked by the real apply only: the Namespace and
    # the ConfigMap go in, then the Deployment's apply keeps failing, as if the worker died there.
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-r"}}
    manifests: list[dict[str, Any]] = [namespace, {**config_map(), "metadata": {"name": "web-config",
                                                                                 "namespace": "team-r"}},
                                       deployment(image=f"{IMAGE}:latest", namespace="team-r")]
    sandbox.inject(action="error", status=500, verb="patch", resource="deployments", times=5)
    state, _, _ = run("deploy_redblack", manifests=manifests, artifacts={"web": "v1"})
    assert state == "failed"
    assert [c["metadata"]["name"] for c in hook.list("ConfigMap", "team-r")
            if c["metadata"]["name"].startswith("web")] == ["web-config-v000"]
    assert hook.list("Deployment", "team-r") == []

    state, result, _ = run("deploy_redblack", manifests=manifests, artifacts={"web": "v1"})
    assert state == "success", result
    assert [c["metadata"]["name"] for c in hook.list("ConfigMap", "team-r")
            if c["metadata"]["name"].startswith("web")] == ["web-config-v000"]  # reused, no second version
    assert [d["metadata"]["name"] for d in hook.list("Deployment", "team-r")] == ["web-v000"]
    reused = {a["name"]: a["reused"] for a in result["applied"] if a["base"]}
    assert reused == {"web-config-v000": True, "web-v000": False}


# -- the stand-alone wait ------------------------------------------------------------------------------

def test_wait_for_stable_stage(deploy_dags: dict, hook: DeliveryKubernetesHook) -> None:
    hook.apply_all([deployment(), deployment(name="bad", image="web:broken")])
    state, result, _ = run("wait_for_stable", task_id="wait", targets=["deployment/web"])
    assert state == "success", result
    assert result["stable"]["Deployment/default/web"]["state"] == "stable"

    state, result, _ = run("wait_for_stable", task_id="wait", targets=[{"kind": "Deployment", "name": "bad"}])
    assert state == "failed"
    assert result["status"] == "timeout" and result["failure_reason"] in ("ImagePullBackOff", "ErrImagePull")
