"""The sandbox, a ``kubernetes`` connection to it, and the operator DAGs of ``dags/`` as a DAG bundle.

``dag.test()`` serialises DAGs from configured bundles only, so ``dags/`` is registered as a bundle of
its own (next to the default one), as ``tests/integration/kubernetes`` does for its DAGs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook, RetryPolicy
from tests.fixtures.sandbox import SandboxHandle, sandbox  # noqa: F401 - re-exported as a fixture
from tests.integration.stages.support import write_pipelines

CONN_ID = "k8s_sandbox"
FAST_RETRIES = RetryPolicy(attempts=4, backoff=0.02, max_backoff=0.1)
DAGS_FOLDER = Path(__file__).parent / "dags"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


def connection_json(kubeconfig: object) -> str:
    return json.dumps({"conn_type": "kubernetes", "extra": {"kube_config_path": str(kubeconfig)}})


@pytest.fixture
def k8s_conn(sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811 - the fixture
    """A ``kubernetes`` connection (``AIRFLOW_CONN_K8S_SANDBOX``) to the sandbox; also the default one."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(sandbox.kubeconfig))
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", connection_json(sandbox.kubeconfig))
    return CONN_ID


@pytest.fixture
def hook(k8s_conn: str) -> DeliveryKubernetesHook:
    """A hook for arranging and checking cluster state, with short backoff."""
    return DeliveryKubernetesHook(k8s_conn, retry_policy=FAST_RETRIES, request_timeout=5)


def _use_bundle(monkeypatch: pytest.MonkeyPatch, name: str, folder: Path) -> dict[str, Any]:
    bundles = [
        {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
        {"name": name, "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(folder), "refresh_interval": 0}},
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
    bag = DagBag(str(folder), bundle_path=folder, bundle_name=name)
    assert not bag.import_errors, bag.import_errors
    return bag.dags


@pytest.fixture
def operator_dags(airflow_db: Path, k8s_conn: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The scenario DAGs of ``dags/``, by dag id."""
    return _use_bundle(monkeypatch, "operator-tests", DAGS_FOLDER)


PipelineLoader = Callable[..., dict[str, Any]]


@pytest.fixture
def load_pipelines(airflow_db: Path, k8s_conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PipelineLoader:
    """Write pipeline YAML files (name -> text) behind the real loader file and load them as DAGs."""

    def load(**pipelines: str) -> dict[str, Any]:
        folder = write_pipelines(tmp_path / "dags", **pipelines)
        return _use_bundle(monkeypatch, f"operator-pipelines-{tmp_path.name}", folder)

    return load
