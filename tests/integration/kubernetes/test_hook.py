"""``DeliveryKubernetesHook`` against the Kubernetes API sandbox over real HTTP (client never patched).

Aspects: discovery (plurals from the server, CRDs installed later, ambiguous and unknown kinds),
server-side apply (create/update, field-manager conflicts and force, dry run), the batch dry run where
one bad document applies nothing, patch flavours, delete (propagation, missing_ok, by label), list
(selectors, pages), pod logs and events, retries on injected 500/429/409/latency with the rules on
what may be repeated, the error hierarchy with messages naming object and connection, and an
unreachable API server.
"""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook, RetryPolicy
from airflow_delivery.kubernetes.errors import (
    ApplyConflictError,
    ConflictError,
    DocumentError,
    DryRunRejectedError,
    InvalidError,
    KubernetesUnavailableError,
    NotFoundError,
    ServerError,
    TooManyRequestsError,
    UnauthorizedError,
    UnknownKindError,
)
from airflow_delivery.sandbox.kubeconfig import write_kubeconfig
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.kubernetes.conftest import CONN_ID, FAST_RETRIES, connection_json
from tests.support import free_port, wait_until

pytestmark = pytest.mark.integration

NS = "default"


def config_map(name: str, data: dict[str, str] | None = None, **labels: str) -> dict:
    metadata: dict = {"name": name}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data or {"a": "1"}}


def deployment(name: str = "web", replicas: int = 2, image: str = "nginx:1.25") -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app", "image": image}]}},
        },
    }


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "canaries.delivery.example.com"},
    "spec": {
        "group": "delivery.example.com",
        "scope": "Namespaced",
        "names": {"plural": "canaries", "singular": "canary", "kind": "Canary", "listKind": "CanaryList"},
        "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
    },
}


# --- discovery ---------------------------------------------------------------------------------------


def test_discovery_uses_the_servers_plurals_and_scopes(hook: DeliveryKubernetesHook) -> None:
    deploy = hook.resource_for("Deployment")
    assert (deploy.api_version, deploy.plural, deploy.namespaced) == ("apps/v1", "deployments", True)
    assert "scale" in deploy.subresources
    assert hook.resource_for("Ingress").plural == "ingresses"
    assert hook.resource_for("Namespace").namespaced is False
    assert hook.resource_for("Event").api_version == "v1"  # served twice: the core group wins
    vs = hook.resource_for("VirtualService", "networking.istio.io/v1beta1")
    assert (vs.plural, vs.path("apps", "web")) == (
        "virtualservices", "/apis/networking.istio.io/v1beta1/namespaces/apps/virtualservices/web")
    assert hook.resource_for("HTTPRoute", "gateway.networking.k8s.io/v1").plural == "httproutes"


def test_a_crd_installed_after_discovery_is_found(hook: DeliveryKubernetesHook) -> None:
    with pytest.raises(UnknownKindError, match="apiVersion delivery.example.com/v1alpha1 is not served at all"):
        hook.resource_for("Canary", "delivery.example.com/v1alpha1")
    hook.server_side_apply(CRD)
    # The plural is "canaries", which kind.lower() + "s" would get wrong.
    assert hook.resource_for("Canary", "delivery.example.com/v1alpha1").plural == "canaries"
    created = hook.server_side_apply({"apiVersion": "delivery.example.com/v1alpha1", "kind": "Canary",
                                      "metadata": {"name": "web"}, "spec": {"weight": 10}})
    assert created["spec"] == {"weight": 10}
    assert hook.get("Canary", "web", api_version="delivery.example.com/v1alpha1")["spec"]["weight"] == 10


def test_unknown_kinds_name_what_is_served(hook: DeliveryKubernetesHook) -> None:
    with pytest.raises(UnknownKindError, match=r"no resource for kind Deploymnet in apiVersion apps/v1: it serves "
                                               r"ControllerRevision, DaemonSet, Deployment"):
        hook.get("Deploymnet", "web", api_version="apps/v1")
    with pytest.raises(UnknownKindError, match=f"connection '{CONN_ID}': the cluster serves no kind named 'deployment'"):
        hook.get("deployment", "web")


# --- server-side apply -------------------------------------------------------------------------------


def test_apply_creates_then_updates_with_the_field_manager(hook: DeliveryKubernetesHook) -> None:
    created = hook.server_side_apply(deployment(replicas=1))
    assert created["metadata"]["namespace"] == NS and created["spec"]["replicas"] == 1
    updated = hook.server_side_apply(deployment(replicas=3))
    assert updated["spec"]["replicas"] == 3
    managers = {(m["manager"], m["operation"]) for m in updated["metadata"]["managedFields"]}
    assert ("airflow-delivery", "Apply") in managers
    # The same apply again changes nothing (controllers bump resourceVersion with status, not generation).
    assert hook.server_side_apply(deployment(replicas=3))["metadata"]["generation"] == updated["metadata"]["generation"]


def test_field_manager_conflict_is_a_clear_error_unless_forced(hook: DeliveryKubernetesHook,
                                                               sandbox: SandboxHandle) -> None:
    hook.server_side_apply(deployment(replicas=2))
    sandbox.kubectl("scale", "deployment/web", "--replicas=5")  # kubectl now owns spec.replicas
    with pytest.raises(ApplyConflictError) as caught:
        hook.server_side_apply(deployment(replicas=2))
    error = caught.value
    assert error.status_code == 409 and error.managers == ["kubectl"]
    assert [c.field for c in error.conflicts] == [".spec.replicas"]
    message = str(error)
    assert f"apply Deployment default/web on connection '{CONN_ID}' as field manager 'airflow-delivery'" in message
    assert ".spec.replicas owned by 'kubectl'" in message and "force=True" in message
    assert isinstance(error.__cause__, ApiException)
    assert hook.get("Deployment", "web")["spec"]["replicas"] == 5  # nothing changed

    forced = hook.server_side_apply(deployment(replicas=2), force=True)
    assert forced["spec"]["replicas"] == 2


def test_dry_run_apply_changes_nothing(hook: DeliveryKubernetesHook) -> None:
    answer = hook.server_side_apply(config_map("dry"), dry_run=True)
    assert answer["data"] == {"a": "1"}
    with pytest.raises(NotFoundError):
        hook.get("ConfigMap", "dry")


def test_one_bad_document_applies_nothing_and_is_named(hook: DeliveryKubernetesHook) -> None:
    bad = deployment("api")
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}  # selector does not match: 422
    batch = [config_map("settings"), bad, deployment("web")]
    with pytest.raises(DryRunRejectedError) as caught:
        hook.apply_all(batch)
    error = caught.value
    assert [f.index for f in error.failures] == [2]
    assert isinstance(error.failures[0].error, InvalidError)
    message = str(error)
    assert "rejected 1 of 3 documents, so nothing was applied" in message
    assert "document 2 (Deployment api)" in message and "spec.template.metadata.labels" in message
    assert hook.list("ConfigMap", label_selector=None, field_selector="metadata.name=settings") == []
    assert hook.list("Deployment") == []


def test_malformed_documents_fail_before_any_request(hook: DeliveryKubernetesHook, sandbox: SandboxHandle) -> None:
    sandbox.inject(action="error", status=500, path="/api|/apis")  # any request would fail loudly
    with pytest.raises(DocumentError, match=r"document 2 \(ConfigMap \?\): metadata.name is missing"):
        hook.dry_run_apply_all([config_map("ok"), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}])
    with pytest.raises(DocumentError, match="document 1 is a list, not a mapping"):
        hook.apply_all([[config_map("x")]])  # type: ignore[list-item]
    with pytest.raises(DocumentError, match="apiVersion is missing"):
        hook.server_side_apply({"kind": "ConfigMap", "metadata": {"name": "x"}})


def test_batch_creating_its_namespace_and_crd_applies(hook: DeliveryKubernetesHook) -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    in_ns = {**config_map("cfg"), "metadata": {"name": "cfg", "namespace": "team-a"}}
    canary = {"apiVersion": "delivery.example.com/v1alpha1", "kind": "Canary", "metadata": {"name": "c"}}
    applied = hook.apply_all([namespace, in_ns, CRD, canary])
    assert [a["kind"] for a in applied] == ["Namespace", "ConfigMap", "CustomResourceDefinition", "Canary"]
    assert hook.get("ConfigMap", "cfg", "team-a")["data"] == {"a": "1"}


# --- patch, delete, list -----------------------------------------------------------------------------


def test_patch_flavours(hook: DeliveryKubernetesHook) -> None:
    dep = deployment()
    dep["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "envoy:1"})
    hook.server_side_apply(dep)
    hook.patch("Deployment", "web", NS, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "nginx:1.26"}]}}}}, "strategic")
    images = [c["image"] for c in hook.get("Deployment", "web")["spec"]["template"]["spec"]["containers"]]
    assert images == ["nginx:1.26", "envoy:1"]
    hook.patch("Deployment", "web", NS, [{"op": "replace", "path": "/spec/replicas", "value": 4}], "json")
    hook.patch("Deployment", "web", NS, {"metadata": {"labels": {"tier": "front"}}}, "merge")
    live = hook.get("Deployment", "web")
    assert live["spec"]["replicas"] == 4 and live["metadata"]["labels"] == {"app": "web", "tier": "front"}
    with pytest.raises(ValueError, match="patch_type 'yaml' is not one of"):
        hook.patch("Deployment", "web", NS, {}, "yaml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="JSON patch must be a list"):
        hook.patch("Deployment", "web", NS, {"spec": {}}, "json")


def test_delete_with_propagation_missing_ok_and_by_label(hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply(deployment(replicas=1))
    wait_until(lambda: hook.list("ReplicaSet", label_selector="app=web"), timeout=10,
               message="the Deployment's ReplicaSet")
    hook.delete("Deployment", "web", propagation="Foreground")
    wait_until(lambda: not hook.list("ReplicaSet", label_selector="app=web"), timeout=10,
               message="the ReplicaSet to be deleted with its Deployment")
    with pytest.raises(NotFoundError, match=f"delete Deployment default/web on connection '{CONN_ID}' failed"):
        hook.delete("Deployment", "web")
    assert hook.delete("Deployment", "web", missing_ok=True) is None
    with pytest.raises(ValueError, match="propagation 'Cascade' is not one of"):
        hook.delete("Deployment", "web", propagation="Cascade")  # type: ignore[arg-type]

    for i in range(3):
        hook.server_side_apply(config_map(f"old-{i}", release="old"))
    hook.server_side_apply(config_map("new-0", release="new"))
    deleted = hook.delete_collection("ConfigMap", label_selector="release=old")
    assert sorted(d["metadata"]["name"] for d in deleted) == ["old-0", "old-1", "old-2"]
    assert [c["metadata"]["name"] for c in hook.list("ConfigMap", label_selector="release")] == ["new-0"]
    with pytest.raises(ValueError, match="non-empty label_selector"):
        hook.delete_collection("ConfigMap", label_selector=" ")


def test_list_follows_pages_and_returns_manifests(hook: DeliveryKubernetesHook) -> None:
    for i in range(5):
        hook.server_side_apply(config_map(f"cm-{i}", group="paged"))
    items = hook.list("ConfigMap", label_selector="group=paged", page_size=2)
    assert sorted(i["metadata"]["name"] for i in items) == [f"cm-{i}" for i in range(5)]
    assert {(i["apiVersion"], i["kind"]) for i in items} == {("v1", "ConfigMap")}
    assert any(n["metadata"]["name"] == "default" for n in hook.list("Namespace"))


def test_pod_logs_and_events(hook: DeliveryKubernetesHook) -> None:
    hook.server_side_apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hello"},
                            "spec": {"restartPolicy": "Never", "containers": [
                                {"name": "main", "image": "busybox:1", "command": ["echo", "hello delivery"]}]}})
    wait_until(lambda: hook.get("Pod", "hello").get("status", {}).get("phase") == "Succeeded", timeout=15,
               message="pod hello to finish")
    assert hook.read_pod_logs("hello") == "hello delivery\n"
    pod = hook.get("Pod", "hello")
    events = hook.list_events("Pod", "hello", uid=pod["metadata"]["uid"])
    assert "Scheduled" in [e["reason"] for e in events]
    assert all(e["involvedObject"]["name"] == "hello" for e in events)
    with pytest.raises(NotFoundError, match="read logs of Pod default/nope"):
        hook.read_pod_logs("nope")


# --- retries -----------------------------------------------------------------------------------------


def test_transient_500s_are_retried(hook: DeliveryKubernetesHook, sandbox: SandboxHandle) -> None:
    hook.server_side_apply(config_map("cfg"))
    sandbox.inject(action="error", status=500, verb="get", resource="configmaps", times=2)
    sandbox.inject(action="error", status=503, verb="patch", resource="configmaps", times=2)
    assert hook.get("ConfigMap", "cfg")["data"] == {"a": "1"}
    assert hook.server_side_apply(config_map("cfg", {"a": "2"}))["data"] == {"a": "2"}
    assert sandbox.faults() == []  # every injected failure was hit, and retried past


def test_retries_are_bounded_and_chained(k8s_conn: str, sandbox: SandboxHandle) -> None:
    hook = DeliveryKubernetesHook(k8s_conn, retry_policy=RetryPolicy(attempts=3, backoff=0.01))
    hook.resource_for("ConfigMap")
    rule = sandbox.inject(action="error", status=500, verb="get", resource="configmaps")
    with pytest.raises(ServerError) as caught:
        hook.get("ConfigMap", "cfg")
    assert "gave up after 3 attempts" in str(caught.value)
    assert f"get ConfigMap default/cfg on connection '{CONN_ID}' failed (HTTP 500" in str(caught.value)
    assert isinstance(caught.value.__cause__, ApiException)
    assert next(f for f in sandbox.faults() if f["id"] == rule)["hits"] == 3


def test_429_honours_retry_after(hook: DeliveryKubernetesHook, sandbox: SandboxHandle,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    hook.server_side_apply(config_map("cfg"))
    sandbox.inject(action="error", status=429, retry_after=1, verb="get", resource="configmaps", times=1)
    assert hook.get("ConfigMap", "cfg")["data"] == {"a": "1"}
    # Airflow's structlog handler prints hook logs to stdout; the retry is logged before sleeping.
    logged = [line for line in capsys.readouterr().out.splitlines() if "HTTP 429" in line]
    assert logged and "retrying in 1.00s (attempt 2 of 4)" in logged[0]
    # A Retry-After longer than the policy allows fails at once, saying so.
    sandbox.inject(action="error", status=429, retry_after=3600, verb="get", resource="configmaps", times=1)
    with pytest.raises(TooManyRequestsError, match="asked to wait 3600s") as caught:
        hook.get("ConfigMap", "cfg")
    assert caught.value.retry_after == 3600


def test_timeouts_are_retried_and_a_repeated_apply_changes_nothing(k8s_conn: str, sandbox: SandboxHandle) -> None:
    hook = DeliveryKubernetesHook(k8s_conn, retry_policy=FAST_RETRIES, request_timeout=0.5)
    hook.server_side_apply(config_map("cfg"))
    first = hook.get("ConfigMap", "cfg")
    # The server applies the slow request after the client gave up; the retry applies the same intent.
    sandbox.inject(action="latency", delay=1.5, verb="patch", resource="configmaps", times=1)
    applied = hook.server_side_apply(config_map("cfg", {"a": "2"}))
    assert applied["data"] == {"a": "2"}
    live = wait_until(lambda: (o := hook.get("ConfigMap", "cfg"))["data"] == {"a": "2"} and o, timeout=5,
                      message="the applied ConfigMap")
    assert int(live["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    sandbox.inject(action="latency", delay=1.5, verb="get", resource="configmaps", times=1)
    assert hook.get("ConfigMap", "cfg")["data"] == {"a": "2"}


def test_only_idempotent_requests_are_repeated(hook: DeliveryKubernetesHook, sandbox: SandboxHandle) -> None:
    hook.server_side_apply(deployment(replicas=1))
    # A JSON patch could apply twice after an unknown outcome: a 500 is final.
    rule = sandbox.inject(action="error", status=500, verb="patch", resource="deployments")
    with pytest.raises(ServerError):
        hook.patch("Deployment", "web", NS, [{"op": "replace", "path": "/spec/replicas", "value": 3}], "json")
    assert next(f for f in sandbox.faults() if f["id"] == rule)["hits"] == 1
    sandbox.remove_fault(rule)
    # A 409 is retried for server-side apply (re-sending the intent is idempotent)...
    sandbox.inject(action="error", status=409, verb="patch", resource="deployments", times=1)
    assert hook.server_side_apply(deployment(replicas=2))["spec"]["replicas"] == 2
    # ...but not for a merge patch, where the caller must re-read.
    sandbox.inject(action="error", status=409, verb="patch", resource="deployments", times=1)
    with pytest.raises(ConflictError, match="HTTP 409 Conflict"):
        hook.patch("Deployment", "web", NS, {"spec": {"replicas": 5}}, "merge")
    # A 429 is retried even for a JSON patch: the server did nothing.
    sandbox.inject(action="error", status=429, verb="patch", resource="deployments", times=1)
    hook.patch("Deployment", "web", NS, [{"op": "replace", "path": "/spec/replicas", "value": 3}], "json")
    assert hook.get("Deployment", "web")["spec"]["replicas"] == 3


# --- error mapping -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "advice"),
    [(403, UnauthorizedError, "RBAC permissions"), (404, NotFoundError, ""), (422, InvalidError, "")],
)
def test_status_codes_map_to_the_hierarchy(hook: DeliveryKubernetesHook, sandbox: SandboxHandle, status: int,
                                           error_type: type, advice: str) -> None:
    sandbox.inject(action="error", status=status, verb="get", resource="services", message="injected", times=1)
    with pytest.raises(error_type) as caught:
        hook.get("Service", "kubernetes")
    assert caught.value.status_code == status
    assert str(caught.value).startswith(f"get Service default/kubernetes on connection '{CONN_ID}' failed "
                                        f"(HTTP {status}")
    assert advice in str(caught.value)


def test_invalid_objects_list_each_field(hook: DeliveryKubernetesHook) -> None:
    bad = deployment()
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(InvalidError) as caught:
        hook.server_side_apply(bad)
    assert [c.field for c in caught.value.causes] == ["spec.template.metadata.labels"]
    assert "invalid fields:\n  spec.template.metadata.labels:" in str(caught.value)


def test_unreachable_api_server(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AIRFLOW_CONN_K8S_NOWHERE", connection_json(kubeconfig))
    hook = DeliveryKubernetesHook("k8s_nowhere", retry_policy=RetryPolicy(attempts=2, backoff=0.01))
    with pytest.raises(KubernetesUnavailableError, match="could not connect to the API server") as caught:
        hook.get("ConfigMap", "cfg", api_version="v1")
    assert caught.value.connect_failed and "gave up after 2 attempts" in str(caught.value)
    assert "discover ConfigMap" in str(caught.value) and "connection 'k8s_nowhere'" in str(caught.value)


def test_namespace_comes_from_the_connection(sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_K8S_TEAM", connection_json(sandbox.kubeconfig, namespace="kube-public"))
    hook = DeliveryKubernetesHook("k8s_team", retry_policy=FAST_RETRIES)
    assert hook.server_side_apply(config_map("here"))["metadata"]["namespace"] == "kube-public"
    assert hook.get("ConfigMap", "here")["metadata"]["namespace"] == "kube-public"
