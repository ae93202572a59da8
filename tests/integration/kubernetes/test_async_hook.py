"""``AsyncDeliveryKubernetesHook`` (kubernetes_asyncio, for triggers) against the sandbox.

Aspects: get/list/list_events/logs through the same discovery as the sync hook, the same error
mapping (404 naming the object and connection), retries on injected 500s, and an unreachable server.
"""

from __future__ import annotations

import asyncio

import pytest

from airflow_delivery.hooks.kubernetes import AsyncDeliveryKubernetesHook, DeliveryKubernetesHook, RetryPolicy
from airflow_delivery.kubernetes.errors import KubernetesUnavailableError, NotFoundError, ServerError
from airflow_delivery.sandbox.kubeconfig import write_kubeconfig
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.kubernetes.conftest import CONN_ID, FAST_RETRIES, connection_json
from tests.support import free_port, wait_until

pytestmark = pytest.mark.integration


def test_reads_events_and_logs(hook: DeliveryKubernetesHook, k8s_conn: str) -> None:
    hook.server_side_apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "job-pod", "labels": {"a": "b"}},
                            "spec": {"restartPolicy": "Never", "containers": [
                                {"name": "main", "image": "busybox:1", "command": ["echo", "done"]}]}})
    wait_until(lambda: hook.get("Pod", "job-pod").get("status", {}).get("phase") == "Succeeded", timeout=15,
               message="pod job-pod to finish")

    async def scenario() -> tuple:
        ahook = AsyncDeliveryKubernetesHook(k8s_conn, retry_policy=FAST_RETRIES)
        pod = await ahook.get("Pod", "job-pod")
        pods = await ahook.list("Pod", label_selector="a=b")
        events = await ahook.list_events("Pod", "job-pod")
        logs = await ahook.read_pod_logs("job-pod")
        resource = await ahook.resource_for("HTTPRoute", "gateway.networking.k8s.io/v1")
        return pod, pods, events, logs, resource

    pod, pods, events, logs, resource = asyncio.run(scenario())
    assert pod["status"]["phase"] == "Succeeded"
    assert [p["metadata"]["name"] for p in pods] == ["job-pod"] and pods[0]["kind"] == "Pod"
    assert "Scheduled" in [e["reason"] for e in events]
    assert logs == "done\n"
    assert resource.plural == "httproutes"


def test_errors_and_retries_match_the_sync_hook(k8s_conn: str, sandbox: SandboxHandle) -> None:
    ahook = AsyncDeliveryKubernetesHook(k8s_conn, retry_policy=RetryPolicy(attempts=3, backoff=0.01))

    async def missing() -> None:
        await ahook.get("ConfigMap", "absent")

    with pytest.raises(NotFoundError, match=f"get ConfigMap default/absent on connection '{CONN_ID}' failed "
                                            r"\(HTTP 404 NotFound\)"):
        asyncio.run(missing())

    sandbox.inject(action="error", status=500, verb="list", resource="configmaps", times=2)
    assert asyncio.run(ahook.list("ConfigMap")) == []
    assert sandbox.faults() == []

    sandbox.inject(action="error", status=503, verb="list", resource="configmaps")
    with pytest.raises(ServerError, match="gave up after 3 attempts"):
        asyncio.run(ahook.list("ConfigMap"))


def test_unreachable_api_server(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AIRFLOW_CONN_K8S_NOWHERE", connection_json(kubeconfig))
    ahook = AsyncDeliveryKubernetesHook("k8s_nowhere", retry_policy=RetryPolicy(attempts=2, backoff=0.01))
    with pytest.raises(KubernetesUnavailableError, match="could not connect") as caught:
        asyncio.run(ahook.get("ConfigMap", "x", api_version="v1"))
    assert caught.value.connect_failed
