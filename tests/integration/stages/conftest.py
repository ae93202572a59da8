"""Pipelines written by a test, loaded through the real loader file and run with ``dag.test()``.

``dag.test()`` runs only DAGs of a configured bundle, so each test's pipelines folder is served as a
bundle of its own (as the canary stage tests do).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from tests.integration.stages.support import write_pipelines

PipelineLoader = Callable[..., dict[str, Any]]


@pytest.fixture
def load_pipelines(airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PipelineLoader:
    def load(**pipelines: str) -> dict[str, Any]:
        folder = write_pipelines(tmp_path / "dags", **pipelines)
        bundle = f"stages-{tmp_path.name}"
        local = "airflow.dag_processing.bundles.local.LocalDagBundle"
        bundles = [
            {"name": "dags-folder", "classpath": local, "kwargs": {}},
            {"name": bundle, "classpath": local, "kwargs": {"path": str(folder), "refresh_interval": 0}},
        ]
        monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
        bag = DagBag(str(folder), bundle_path=folder, bundle_name=bundle)
        assert not bag.import_errors, bag.import_errors
        return bag.dags

    return load
