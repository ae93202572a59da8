"""Helpers of the stage tests: pipeline folders served by the real loader file, XComs and states."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

LOADER = """\
from pathlib import Path

from airflow_delivery.pipeline.dags import build_pipeline_dags

build_pipeline_dags(Path(__file__).parent / "pipelines", globals())
"""


def write_pipelines(folder: Path, **pipelines: str) -> Path:
    """A DAGs folder with the loader file and one YAML file per pipeline (name -> text)."""
    (folder / "pipelines").mkdir(parents=True, exist_ok=True)
    (folder / "delivery_pipelines.py").write_text(LOADER)
    for name, text in pipelines.items():
        (folder / "pipelines" / f"{name}.yaml").write_text(text)
    return folder


def xcom(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    """The one XCom ``task_id`` published under ``key`` in ``dag_run``."""
    query = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key=key)
    with create_session() as session:
        values = [XComModel.deserialize_value(row) for row in session.scalars(query)]
    assert len(values) == 1, f"expected one {key!r} XCom from {task_id}, got {values}"
    return values[0]


def states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
