"""``kubernetes_asyncio`` and the cncf-kubernetes provider's hooks against the sandbox.

Aspects: the async client (CRUD, strategic patch, watch), ``KubernetesHook(config_file=...)``, a
connection from ``AIRFLOW_CONN_KUBERNETES_DEFAULT`` with the ``kube_config_path`` extra, and
``AsyncKubernetesHook`` reading pods and Jobs.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from kubernetes_asyncio import client as aclient
from kubernetes_asyncio import config as aconfig
from kubernetes_asyncio import watch as awatch

from tests.fixtures.sandbox import SandboxHandle
from tests.support import wait_until

pytestmark = pytest.mark.integration

NS = "default"


def test_kubernetes_asyncio_client(sandbox: SandboxHandle) -> None:
    async def scenario() -> list[tuple[str, str]]:
        api_client = await aconfig.new_client_from_config(config_file=str(sandbox.kubeconfig))
        async with api_client:
            core = aclient.CoreV1Api(api_client)
            start = (await core.list_namespaced_config_map(NS)).metadata.resource_version
            await core.create_namespaced_config_map(NS, {"metadata": {"name": "a"}, "data": {"k": "1"}})
            await core.patch_namespaced_config_map("a", NS, {"data": {"k": "2"}})
            assert (await core.read_namespaced_config_map("a", NS)).data == {"k": "2"}
            await core.delete_namespaced_config_map("a", NS)
            seen = []
            async with awatch.Watch().stream(core.list_namespaced_config_map, NS, resource_version=start,
                                             timeout_seconds=1) as stream:
                async for event in stream:
                    seen.append((event["type"], event["object"].metadata.name))
            return seen

    assert asyncio.run(scenario()) == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


def test_kubernetes_hook_with_config_file(sandbox: SandboxHandle) -> None:
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    hook = KubernetesHook(conn_id=None, config_file=str(sandbox.kubeconfig))
    namespaces = {ns.metadata.name for ns in hook.core_v1_client.list_namespace().items}
    assert {"default", "kube-system"} <= namespaces
    hook.create_custom_object(group="networking.istio.io", version="v1", plural="virtualservices", namespace=NS,
                              body={"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                                    "metadata": {"name": "web"}, "spec": {"hosts": ["web"]}})
    stored = hook.get_custom_object(group="networking.istio.io", version="v1", plural="virtualservices",
                                    name="web", namespace=NS)
    assert stored["spec"]["hosts"] == ["web"]


def test_kubernetes_hook_from_connection_env(sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    connection = {"conn_type": "kubernetes", "extra": {"kube_config_path": str(sandbox.kubeconfig),
                                                        "namespace": "default"}}
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(connection))
    hook = KubernetesHook()
    ok, message = hook.test_connection()
    assert ok, message
    assert hook.get_namespace() == "default"
    hook.core_v1_client.create_namespaced_pod(NS, {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "busybox:1"}]}})
    wait_until(lambda: hook.get_pod("p", NS).status.phase == "Running", timeout=10, message="pod running")


def test_async_kubernetes_hook(sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import AsyncKubernetesHook, KubernetesHook

    connection = {"conn_type": "kubernetes", "extra": {"kube_config_path": str(sandbox.kubeconfig)}}
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(connection))
    sync = KubernetesHook()
    sync.batch_v1_client.create_namespaced_job(NS, {"metadata": {"name": "j"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1", "command": ["echo", "hi"]}]}}}})
    hook = AsyncKubernetesHook(conn_id="kubernetes_default")

    async def finished_job_status() -> object:
        for _ in range(200):
            job = await hook.get_job_status("j", NS)
            if job.status.succeeded:
                return job
            await asyncio.sleep(0.05)
        raise AssertionError("the Job never succeeded")

    job = asyncio.run(finished_job_status())
    assert any(c.type == "Complete" and c.status == "True" for c in job.status.conditions)
