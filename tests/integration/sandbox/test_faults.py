"""Fault injection over the admin endpoint, as seen by the real clients: 500, injected 409, latency,
dropped watches, and validation of bad rules."""

from __future__ import annotations

import json
import time
import urllib.error
from collections.abc import Iterator

import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from airflow_delivery.sandbox import sandbox_admin
from tests.fixtures.sandbox import SandboxHandle

pytestmark = [pytest.mark.integration, pytest.mark.faults]

NS = "default"


@pytest.fixture
def core(sandbox: SandboxHandle) -> Iterator[client.CoreV1Api]:
    api_client = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
    try:
        yield client.CoreV1Api(api_client)
    finally:
        api_client.close()


def test_injected_500_is_seen_once_then_requests_succeed(sandbox: SandboxHandle, core: client.CoreV1Api) -> None:
    sandbox.inject(action="error", status=500, verb="list", resource="configmaps", times=1)
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_config_map(NS)
    assert caught.value.status == 500
    assert json.loads(caught.value.body)["reason"] == "InternalError"
    assert core.list_namespaced_config_map(NS).items == []
    assert sandbox.faults() == [], "the rule was used up"


def test_injected_409_on_a_chosen_object(sandbox: SandboxHandle, core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map(NS, {"metadata": {"name": "a"}})
    core.create_namespaced_config_map(NS, {"metadata": {"name": "b"}})
    rule = sandbox.inject(action="error", status=409, verb="patch", name="a", retry_after=1)
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map("a", NS, {"data": {"x": "1"}})
    assert caught.value.status == 409 and caught.value.headers["Retry-After"] == "1"
    core.patch_namespaced_config_map("b", NS, {"data": {"x": "1"}})
    sandbox.remove_fault(rule)
    core.patch_namespaced_config_map("a", NS, {"data": {"x": "1"}})


def test_latency_delays_matching_requests(sandbox: SandboxHandle, core: client.CoreV1Api) -> None:
    sandbox.inject(action="latency", delay=0.5, path="/namespaces/default/configmaps$", times=1)
    started = time.monotonic()
    core.list_namespaced_config_map(NS)
    assert time.monotonic() - started >= 0.5


def test_a_dropped_watch_breaks_the_stream(sandbox: SandboxHandle, core: client.CoreV1Api) -> None:
    for name in ("a", "b", "c"):
        core.create_namespaced_config_map(NS, {"metadata": {"name": name}})
    sandbox.inject(action="drop_watch", resource="configmaps", after_events=1, times=1)
    received = []
    with pytest.raises((urllib3.exceptions.ProtocolError, urllib3.exceptions.HTTPError)):
        for event in watch.Watch().stream(core.list_namespaced_config_map, NS, timeout_seconds=5):
            received.append(event["object"].metadata.name)
    assert received == ["a"], "the connection was cut after one event"
    names = [e["object"].metadata.name for e in
             watch.Watch().stream(core.list_namespaced_config_map, NS, timeout_seconds=1)]
    assert names == ["a", "b", "c"], "the next watch is healthy"


def test_bad_fault_rules_and_config_are_400_naming_the_field(sandbox: SandboxHandle) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        sandbox_admin(sandbox.url, "POST", "faults", {"action": "error", "colour": "red"})
    assert caught.value.code == 400 and "unknown fault fields ['colour']" in caught.value.read().decode()
    with pytest.raises(urllib.error.HTTPError) as bad_config:
        sandbox.configure(ready_after=-2)
    assert bad_config.value.code == 400 and "ready_after must be >= 0" in bad_config.value.read().decode()


def test_runtime_config_marks_images_broken(sandbox: SandboxHandle, core: client.CoreV1Api) -> None:
    sandbox.configure(broken_images=["registry.example/app:2*"])
    core.create_namespaced_pod(NS, {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "registry.example/app:2.1"}]}})
    from tests.support import wait_until

    def waiting_reason() -> str | None:
        statuses = core.read_namespaced_pod("p", NS).status.container_statuses or []
        waiting = statuses[0].state.waiting if statuses else None
        return waiting.reason if waiting else None

    wait_until(lambda: waiting_reason() in ("ErrImagePull", "ImagePullBackOff"), timeout=10,
               message="image pull failure")
