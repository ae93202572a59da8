"""dags/ loads in Airflow's own DagBag; a broken pipeline file is an import error of that file only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from tests.support import REPO_ROOT


def test_dags_folder_has_no_import_errors() -> None:
    bag = DagBag(str(REPO_ROOT / "dags"), bundle_path=REPO_ROOT / "dags")
    assert bag.import_errors == {}
    assert "hello_delivery" in bag.dag_ids
    for dag_id in bag.dag_ids:
        assert "delivery" in bag.dags[dag_id].tags


@pytest.fixture
def dags_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    shutil.copytree(REPO_ROOT / "dags", folder)
    return folder


def test_broken_pipeline_is_reported_for_its_own_file_and_hides_nothing(dags_copy: Path) -> None:
    (dags_copy / "pipelines" / "broken.yaml").write_text(
        "name: broken\nstages:\n  - id: a\n    type: wait\n    duraton: 5s\n"
    )
    (dags_copy / "pipelines" / "not_yaml.yaml").write_text("name: [oops\n")
    bag = DagBag(str(dags_copy), bundle_path=dags_copy)
    assert "hello_delivery" in bag.dag_ids
    assert set(bag.import_errors) == {"pipelines/broken.yaml", "pipelines/not_yaml.yaml"}
    assert "stages[0].duraton: unknown option" in bag.import_errors["pipelines/broken.yaml"]
    assert "broken.yaml:5" in bag.import_errors["pipelines/broken.yaml"]
    assert "invalid YAML" in bag.import_errors["pipelines/not_yaml.yaml"]


def test_duplicate_pipeline_names_keep_the_first_and_report_the_second(dags_copy: Path) -> None:
    original = (dags_copy / "pipelines" / "hello_delivery.yaml").read_text()
    (dags_copy / "pipelines" / "zz_copy.yaml").write_text(original)
    bag = DagBag(str(dags_copy), bundle_path=dags_copy)
    assert "hello_delivery" in bag.dag_ids
    assert "already used by" in bag.import_errors["pipelines/zz_copy.yaml"]


def test_broken_python_dag_file_does_not_hide_pipelines(dags_copy: Path) -> None:
    (dags_copy / "bad_dag.py").write_text("# airflow dag\nimport does_not_exist\n")
    bag = DagBag(str(dags_copy), bundle_path=dags_copy)
    assert "hello_delivery" in bag.dag_ids
    assert "No module named 'does_not_exist'" in bag.import_errors["bad_dag.py"]


def test_a_worker_builds_only_the_pipeline_of_its_task(dags_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = (dags_copy / "pipelines" / "hello_delivery.yaml").read_text().replace("hello_delivery", "other_one")
    (dags_copy / "pipelines" / "other_one.yaml").write_text(other)
    # A misnamed file still loads: the worker falls back to scanning when <dag_id>.yaml is not it.
    (dags_copy / "pipelines" / "misnamed.yaml").write_text(other.replace("other_one", "third"))
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "other_one")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "soak")
    bag = DagBag(str(dags_copy), bundle_path=dags_copy)
    assert bag.dag_ids == ["other_one"]
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "third")
    assert DagBag(str(dags_copy), bundle_path=dags_copy).dag_ids == ["third"]
