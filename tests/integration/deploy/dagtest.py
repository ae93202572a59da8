"""Running the deploy test DAGs with ``dag.test()``: the bundle, a runner, and XCom reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag

DAGS_FOLDER = Path(__file__).parent / "dags"
BUNDLE = "deploy-tests"


@pytest.fixture
def deploy_dags(airflow_db: Path, k8s_conn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The DAGs of ``dags/``, in a bundle of their own, parsed afresh for each test (``dag.test()``
    renders template fields in place, so a second run of the same objects would see the first's values)."""
    local = "airflow.dag_processing.bundles.local.LocalDagBundle"
    bundles = [
        {"name": "dags-folder", "classpath": local, "kwargs": {}},
        {"name": BUNDLE, "classpath": local, "kwargs": {"path": str(DAGS_FOLDER), "refresh_interval": 0}},
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
    yield parse_dags()


def parse_dags() -> dict[str, Any]:
    bag = DagBag(str(DAGS_FOLDER), bundle_path=DAGS_FOLDER, bundle_name=BUNDLE)
    assert not bag.import_errors, bag.import_errors
    return bag.dags


def run(dag_id: str, task_id: str = "deploy", **conf: Any) -> tuple[str, Any, Any]:
    """Run a DAG (parsed afresh) once; returns the task state, its XCom and the task instance."""
    dag = parse_dags()[dag_id]
    dag_run = dag.test(run_conf=conf or None)
    ti = dag_run.get_task_instance(task_id)
    return str(ti.state), ti.xcom_pull(task_ids=task_id), ti
