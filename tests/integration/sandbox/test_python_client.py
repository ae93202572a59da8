"""The official ``kubernetes`` client against the sandbox, through a kubeconfig, never monkey-patched.

Aspects: CRUD on core kinds, Status error bodies (404/409/422), optimistic concurrency, every patch
content type, dry-run, selectors, pagination, watches (resume, selector transitions, 410), Deployment
rollouts (success and ProgressDeadlineExceeded with events), Jobs (complete, fail, logs), deletion
propagation, the scale sub-resource, custom objects (Istio, Gateway API, CRDs, generic), and the
dynamic client's server-side apply with conflicts and force.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException

from tests.fixtures.sandbox import SandboxHandle, start_sandbox
from tests.support import wait_until

pytestmark = pytest.mark.integration

NS = "default"


@pytest.fixture
def api(sandbox: SandboxHandle) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
    try:
        yield api_client
    finally:
        api_client.close()


def deployment_body(name: str = "web", image: str = "nginx:1.25", replicas: int = 2, deadline: int = 600) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": deadline,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image, "ports": [{"containerPort": 80}]}]},
            },
        },
    }


def status_body(exc: ApiException) -> dict:
    return json.loads(exc.body)


def available(apps: client.AppsV1Api, name: str, replicas: int) -> bool:
    d = apps.read_namespaced_deployment(name, NS)
    return (d.status.observed_generation == d.metadata.generation and d.status.updated_replicas == replicas
            and d.status.available_replicas == replicas and (d.status.replicas or 0) == replicas)


def test_configmap_crud_and_status_errors(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    created = core.create_namespaced_config_map(NS, {"metadata": {"name": "cfg"}, "data": {"a": "1"}})
    assert created.metadata.uid and created.metadata.resource_version
    assert core.read_namespaced_config_map("cfg", NS).data == {"a": "1"}

    with pytest.raises(ApiException) as exists:
        core.create_namespaced_config_map(NS, {"metadata": {"name": "cfg"}})
    assert exists.value.status == 409 and status_body(exists.value)["reason"] == "AlreadyExists"

    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("nope", NS)
    body = status_body(missing.value)
    assert missing.value.status == 404
    assert body["kind"] == "Status" and body["reason"] == "NotFound" and body["message"] == 'configmaps "nope" not found'

    stale = core.read_namespaced_config_map("cfg", NS)
    fresh = core.read_namespaced_config_map("cfg", NS)
    fresh.data = {"a": "2"}
    core.replace_namespaced_config_map("cfg", NS, fresh)
    stale.data = {"a": "3"}
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("cfg", NS, stale)
    assert conflict.value.status == 409 and status_body(conflict.value)["reason"] == "Conflict"

    core.delete_namespaced_config_map("cfg", NS)
    assert [c.metadata.name for c in core.list_namespaced_config_map(NS).items] == []


def test_invalid_objects_get_422_with_causes(api: client.ApiClient) -> None:
    bad = deployment_body()
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(ApiException) as caught:
        client.AppsV1Api(api).create_namespaced_deployment(NS, bad)
    body = status_body(caught.value)
    assert caught.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "spec.template.metadata.labels"
    with pytest.raises(ApiException) as no_ns:
        client.CoreV1Api(api).create_namespaced_config_map("missing-ns", {"metadata": {"name": "x"}})
    assert no_ns.value.status == 404 and 'namespaces "missing-ns" not found' in status_body(no_ns.value)["message"]


def test_patch_content_types(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    body = deployment_body()
    body["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "envoy:1"})
    apps.create_namespaced_deployment(NS, body)
    # A dict body is sent as a strategic merge patch: containers merge by name.
    apps.patch_namespaced_deployment("web", NS, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "nginx:1.26"}]}}}})
    containers = apps.read_namespaced_deployment("web", NS).spec.template.spec.containers
    assert [(c.name, c.image) for c in containers] == [("app", "nginx:1.26"), ("sidecar", "envoy:1")]
    # A list body is a JSON patch.
    apps.patch_namespaced_deployment("web", NS, [{"op": "replace", "path": "/spec/replicas", "value": 4}])
    assert apps.read_namespaced_deployment("web", NS).spec.replicas == 4
    # A merge patch replaces lists.
    apps.patch_namespaced_deployment(
        "web", NS, {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "busybox:1"}]}}}},
        _content_type="application/merge-patch+json")
    containers = apps.read_namespaced_deployment("web", NS).spec.template.spec.containers
    assert [c.name for c in containers] == ["only"]
    generation = apps.read_namespaced_deployment("web", NS).metadata.generation
    assert generation == 4, "three spec changes after creation"
    with pytest.raises(ApiException) as failed:
        apps.patch_namespaced_deployment("web", NS, [{"op": "test", "path": "/spec/replicas", "value": 99}])
    assert failed.value.status == 422


def test_dry_run_does_not_persist(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    result = core.create_namespaced_config_map(NS, {"metadata": {"name": "dry"}}, dry_run="All")
    assert result.metadata.name == "dry" and result.metadata.uid
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_config_map("dry", NS)
    assert caught.value.status == 404
    with pytest.raises(ApiException) as bad:
        core.create_namespaced_config_map(NS, {"metadata": {"name": "dry"}}, dry_run="Some")
    assert bad.value.status == 400


def test_selectors_and_pagination(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    for index in range(5):
        core.create_namespaced_config_map(NS, {"metadata": {"name": f"c{index}",
                                                            "labels": {"parity": "even" if index % 2 == 0 else "odd"}}})
    even = core.list_namespaced_config_map(NS, label_selector="parity=even")
    assert [c.metadata.name for c in even.items] == ["c0", "c2", "c4"]
    named = core.list_namespaced_config_map(NS, field_selector="metadata.name=c3")
    assert [c.metadata.name for c in named.items] == ["c3"]
    first = core.list_namespaced_config_map(NS, limit=2)
    assert len(first.items) == 2 and first.metadata._continue
    rest = core.list_namespaced_config_map(NS, limit=10, _continue=first.metadata._continue)
    assert [c.metadata.name for c in first.items + rest.items] == [f"c{i}" for i in range(5)]


def test_watch_streams_resumes_and_follows_selectors(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    start_rv = core.list_namespaced_config_map(NS).metadata.resource_version
    core.create_namespaced_config_map(NS, {"metadata": {"name": "w", "labels": {"watched": "yes"}}})
    core.patch_namespaced_config_map("w", NS, {"data": {"k": "v"}})
    core.patch_namespaced_config_map("w", NS, {"metadata": {"labels": {"watched": "no"}}})
    core.delete_namespaced_config_map("w", NS)
    seen = []
    for event in watch.Watch().stream(core.list_namespaced_config_map, NS, resource_version=start_rv,
                                      timeout_seconds=1):
        seen.append((event["type"], event["object"].metadata.name))
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]
    filtered = [e["type"] for e in watch.Watch().stream(core.list_namespaced_config_map, NS,
                                                        resource_version=start_rv, label_selector="watched=yes",
                                                        timeout_seconds=1)]
    assert filtered == ["ADDED", "MODIFIED", "DELETED"], "leaving the selector is a DELETED event"


def test_watch_from_a_too_old_resource_version_is_410(tmp_path: Path) -> None:
    instance, handle = start_sandbox(tmp_path, event_history=5)
    try:
        api_client = config.new_client_from_config(config_file=str(handle.kubeconfig))
        core = client.CoreV1Api(api_client)
        first = core.create_namespaced_config_map(NS, {"metadata": {"name": "c0"}}).metadata.resource_version
        for index in range(1, 10):
            core.create_namespaced_config_map(NS, {"metadata": {"name": f"c{index}"}})
        with pytest.raises(ApiException) as caught:
            core.list_namespaced_config_map(NS, watch=True, resource_version=first, _preload_content=False)
        assert caught.value.status == 410 and status_body(caught.value)["reason"] == "Expired"
        api_client.close()
    finally:
        instance.stop()


def test_deployment_rolls_out_and_reports_status(api: client.ApiClient) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(NS, deployment_body(replicas=3))
    wait_until(lambda: available(apps, "web", 3), timeout=15, message="web to become available")
    d = apps.read_namespaced_deployment("web", NS)
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    progressing = next(c for c in d.status.conditions if c.type == "Progressing")
    assert (progressing.status, progressing.reason) == ("True", "NewReplicaSetAvailable")
    [rs] = apps.list_namespaced_replica_set(NS, label_selector="app=web").items
    template_hash = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{template_hash}"
    assert rs.metadata.owner_references[0].uid == d.metadata.uid
    pods = core.list_namespaced_pod(NS, label_selector=f"pod-template-hash={template_hash}").items
    assert len(pods) == 3 and all(p.status.phase == "Running" for p in pods)

    apps.patch_namespaced_deployment("web", NS, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "nginx:1.26"}]}}}})
    wait_until(lambda: available(apps, "web", 3), timeout=15, message="second rollout")
    sets = {r.metadata.annotations["deployment.kubernetes.io/revision"]: r.spec.replicas
            for r in apps.list_namespaced_replica_set(NS, label_selector="app=web").items}
    assert sets == {"1": 0, "2": 3}


def test_broken_image_exceeds_the_progress_deadline(api: client.ApiClient) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(NS, deployment_body(replicas=2))
    wait_until(lambda: available(apps, "web", 2), timeout=15, message="first rollout")
    apps.patch_namespaced_deployment("web", NS, {"spec": {"progressDeadlineSeconds": 1, "template": {"spec": {
        "containers": [{"name": "app", "image": "nginx:broken"}]}}}})

    def deadline_exceeded() -> bool:
        conditions = apps.read_namespaced_deployment("web", NS).status.conditions or []
        return any(c.type == "Progressing" and c.reason == "ProgressDeadlineExceeded" and c.status == "False"
                   for c in conditions)

    wait_until(deadline_exceeded, timeout=15, message="ProgressDeadlineExceeded")
    broken = [p for p in core.list_namespaced_pod(NS, label_selector="app=web").items
              if p.spec.containers[0].image == "nginx:broken"]
    assert broken and all(p.status.container_statuses[0].state.waiting.reason in ("ErrImagePull", "ImagePullBackOff")
                          for p in broken)
    reasons = {e.reason for e in core.list_namespaced_event(
        NS, field_selector=f"involvedObject.name={broken[0].metadata.name}").items}
    assert "Failed" in reasons
    d = apps.read_namespaced_deployment("web", NS)
    assert d.status.available_replicas == 2, "old pods keep serving (maxUnavailable)"


def test_unready_pods_run_but_never_become_ready(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(NS, {"metadata": {"name": "lonely"}, "spec": {"containers": [
        {"name": "app", "image": "app:unready"}]}})
    wait_until(lambda: core.read_namespaced_pod("lonely", NS).status.phase == "Running", timeout=10,
               message="pod running")
    pod = core.read_namespaced_pod("lonely", NS)
    ready = next(c for c in pod.status.conditions if c.type == "Ready")
    assert ready.status == "False"
    reasons = [e.reason for e in core.list_namespaced_event(NS, field_selector="involvedObject.name=lonely").items]
    assert "Unhealthy" in reasons and "Scheduled" in reasons


def job_body(name: str, image: str, command: list[str]) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": 1, "template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "main", "image": image, "command": command}]}}}}


def job_condition(batch: client.BatchV1Api, name: str) -> str | None:
    for condition in batch.read_namespaced_job(name, NS).status.conditions or []:
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return str(condition.type)
    return None


def test_jobs_complete_or_fail_and_expose_logs(api: client.ApiClient) -> None:
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    batch.create_namespaced_job(NS, job_body("ok", "busybox:1", ["sh", "-c", "echo result=42; echo done"]))
    batch.create_namespaced_job(NS, job_body("exits", "busybox:1", ["sh", "-c", "echo failing; exit 2"]))
    batch.create_namespaced_job(NS, job_body("image", "tool:fails", ["run"]))
    wait_until(lambda: job_condition(batch, "ok") == "Complete", timeout=15, message="job ok completes")
    wait_until(lambda: job_condition(batch, "exits") == "Failed", timeout=15, message="job exits fails")
    wait_until(lambda: job_condition(batch, "image") == "Failed", timeout=15, message="job image fails")
    assert batch.read_namespaced_job("ok", NS).status.succeeded == 1
    failed = batch.read_namespaced_job("exits", NS)
    assert failed.status.failed == 2, "backoffLimit 1: two pods fail"
    assert next(c for c in failed.status.conditions if c.type == "Failed").reason == "BackoffLimitExceeded"
    [pod] = core.list_namespaced_pod(NS, label_selector="job-name=ok").items
    # kubernetes 36 returns the repr of bytes from read_namespaced_pod_log (kubernetes-client/python#2596),
    # against real clusters too; reading the raw response avoids it.
    raw = core.read_namespaced_pod_log(pod.metadata.name, NS, _preload_content=False)
    assert raw.data.decode() == "result=42\ndone\n"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 0


@pytest.mark.parametrize(("policy", "dependents_left"), [("Orphan", True), ("Foreground", False),
                                                          ("Background", False)])
def test_delete_propagation(api: client.ApiClient, policy: str, dependents_left: bool) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(NS, deployment_body(replicas=2))
    wait_until(lambda: available(apps, "web", 2), timeout=15, message="rollout")
    apps.delete_namespaced_deployment("web", NS, body=client.V1DeleteOptions(propagation_policy=policy))

    def settled() -> bool:
        names = {d.metadata.name for d in apps.list_namespaced_deployment(NS).items}
        rs = apps.list_namespaced_replica_set(NS, label_selector="app=web").items
        pods = core.list_namespaced_pod(NS, label_selector="app=web").items
        if dependents_left:
            return not names and len(rs) == 1 and not rs[0].metadata.owner_references and len(pods) == 2
        return not names and not rs and not pods

    wait_until(settled, timeout=15, message=f"{policy} deletion to settle")


def test_scale_subresource(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(NS, deployment_body(replicas=1))
    scale = apps.read_namespaced_deployment_scale("web", NS)
    assert scale.spec.replicas == 1 and scale.status.selector == "app=web"
    apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 3}})
    wait_until(lambda: available(apps, "web", 3), timeout=15, message="scaled to 3")
    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": -1}})
    assert caught.value.status == 422


def test_custom_objects_are_stored_generically(api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api)
    vs = {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService", "metadata": {"name": "web"},
          "spec": {"hosts": ["web"], "http": [{"route": [{"destination": {"host": "web", "subset": "stable"},
                                                          "weight": 100}]}]}}
    custom.create_namespaced_custom_object("networking.istio.io", "v1beta1", NS, "virtualservices", vs)
    same = custom.get_namespaced_custom_object("networking.istio.io", "v1", NS, "virtualservices", "web")
    assert same["apiVersion"] == "networking.istio.io/v1", "one object, served in every version"
    custom.patch_namespaced_custom_object("networking.istio.io", "v1", NS, "virtualservices", "web",
                                          [{"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 90}],
                                          _content_type="application/json-patch+json")
    stored = custom.get_namespaced_custom_object("networking.istio.io", "v1beta1", NS, "virtualservices", "web")
    assert stored["spec"]["http"][0]["route"][0]["weight"] == 90

    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "web"},
             "spec": {"rules": [{"backendRefs": [{"name": "web", "port": 80, "weight": 1}]}]}}
    custom.create_namespaced_custom_object("gateway.networking.k8s.io", "v1", NS, "httproutes", route)

    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}}
    custom.create_namespaced_custom_object("example.com", "v1", NS, "widgets", widget)
    listed = custom.list_namespaced_custom_object("example.com", "v1", NS, "widgets")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["w1"]
    with pytest.raises(ApiException) as caught:
        custom.get_namespaced_custom_object("apps", "v1", NS, "gadgets", "x")
    assert caught.value.status == 404


def test_crd_registers_a_resource_for_discovery(api: client.ApiClient) -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "canaries.delivery.example.com"},
           "spec": {"group": "delivery.example.com", "scope": "Namespaced",
                    "names": {"plural": "canaries", "singular": "canary", "kind": "Canary"},
                    "versions": [{"name": "v1", "served": True, "storage": True}]}}
    client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)
    dyn = dynamic.DynamicClient(api)
    canaries = dyn.resources.get(api_version="delivery.example.com/v1", kind="Canary")
    canaries.create(body={"apiVersion": "delivery.example.com/v1", "kind": "Canary", "metadata": {"name": "c"},
                          "spec": {"weight": 10}}, namespace=NS)
    assert canaries.get(name="c", namespace=NS).spec.weight == 10


def test_dynamic_client_server_side_apply_conflicts_and_force(api: client.ApiClient) -> None:
    dyn = dynamic.DynamicClient(api)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    body = deployment_body()
    applied = deployments.server_side_apply(body=body, namespace=NS, field_manager="deployer")
    assert applied.spec.replicas == 2
    assert [m.manager for m in applied.metadata.managedFields] == ["deployer"]
    client.AppsV1Api(api).patch_namespaced_deployment("web", NS, {"spec": {"replicas": 5}}, field_manager="hpa")
    with pytest.raises(ApiException) as caught:
        deployments.server_side_apply(body=body, namespace=NS, field_manager="deployer")
    status = status_body(caught.value)
    assert caught.value.status == 409 and status["reason"] == "Conflict"
    assert status["details"]["causes"] == [{"reason": "FieldManagerConflict", "message": 'conflict with "hpa" using '
                                            "apps/v1", "field": ".spec.replicas"}]
    forced = deployments.server_side_apply(body=body, namespace=NS, field_manager="deployer", force_conflicts=True)
    assert forced.spec.replicas == 2
    dry = deployments.server_side_apply(body=deployment_body(replicas=7), namespace=NS, field_manager="deployer",
                                        dry_run="All")
    assert dry.spec.replicas == 7
    assert client.AppsV1Api(api).read_namespaced_deployment("web", NS).spec.replicas == 2


def test_service_endpoints_follow_ready_pods(api: client.ApiClient) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(NS, deployment_body(replicas=2))
    service = core.create_namespaced_service(NS, {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 80}]}})
    assert service.spec.cluster_ip and service.spec.ports[0].protocol == "TCP"

    def ready_addresses() -> int:
        subsets = core.read_namespaced_endpoints("web", NS).subsets or []
        return sum(len(s.addresses or []) for s in subsets)

    wait_until(lambda: ready_addresses() == 2, timeout=15, message="two ready endpoints")
