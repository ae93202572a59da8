"""The sandbox fixture plus a ``kubernetes`` connection to it and hooks on that connection."""

from __future__ import annotations

import json

import pytest

from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook, RetryPolicy
from tests.fixtures.sandbox import SandboxHandle, sandbox  # noqa: F401 - re-exported as a fixture

CONN_ID = "k8s_sandbox"
FAST_RETRIES = RetryPolicy(attempts=4, backoff=0.02, max_backoff=0.1)


def connection_json(kubeconfig: object, **extra: object) -> str:
    return json.dumps({"conn_type": "kubernetes", "extra": {"kube_config_path": str(kubeconfig), **extra}})


@pytest.fixture
def k8s_conn(sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811 - the fixture
    """A ``kubernetes`` connection (``AIRFLOW_CONN_K8S_SANDBOX``) to the sandbox; also the default one."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(sandbox.kubeconfig))
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", connection_json(sandbox.kubeconfig))
    return CONN_ID


@pytest.fixture
def hook(k8s_conn: str) -> DeliveryKubernetesHook:
    """A hook with short backoff, so retry tests stay quick."""
    return DeliveryKubernetesHook(k8s_conn, retry_policy=FAST_RETRIES, request_timeout=5)
