"""Build every pipeline of a folder into DAGs: what ``dags/delivery_pipelines.py`` calls.

On a worker only the pipeline of the task being run is built (``get_parsing_context``), so starting
a task costs one pipeline's parse, not the whole folder's.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from airflow_delivery.pipeline.loader import (
    PipelineError,
    PipelineFileError,
    find_pipeline_files,
    load_pipeline_file,
)

log = logging.getLogger(__name__)


def _build_one(folder: Path, dag_id: str, namespace: dict[str, Any]) -> bool:
    """Worker fast path: build only ``<dag_id>.yaml`` if that file defines ``dag_id``.

    Files are conventionally named after their pipeline; when one is not, the caller scans them all.
    """
    from airflow_delivery.pipeline.factory import build_dag

    for suffix in (".yaml", ".yml"):
        for path in folder.rglob(f"{dag_id}{suffix}"):
            try:
                spec = load_pipeline_file(path)
            except PipelineFileError:
                return False
            if spec.name == dag_id:
                namespace[f"pipeline__{spec.name}"] = build_dag(spec)
                return True
    return False


def _wanted_dag_id() -> str | None:
    from airflow.sdk import get_parsing_context

    return get_parsing_context().dag_id


def build_pipeline_dags(folder: str | Path, namespace: dict[str, Any]) -> list[PipelineFileError]:
    """Put one DAG per valid pipeline file into ``namespace``; report and return the broken files."""
    from airflow_delivery.pipeline.factory import build_dag
    from airflow_delivery.pipeline.import_errors import report_import_error

    wanted = _wanted_dag_id()
    if wanted is not None and _build_one(Path(folder), wanted, namespace):
        return []
    errors: list[PipelineFileError] = []
    seen: dict[str, Path] = {}
    for path in find_pipeline_files(Path(folder)):
        try:
            spec = load_pipeline_file(path)
            if spec.name in seen:
                message = f"pipeline name {spec.name!r} is already used by {seen[spec.name]}"
                raise PipelineFileError(str(path), [PipelineError(str(path), None, "name", message)])
            seen[spec.name] = path
            if wanted is not None and spec.name != wanted:
                continue
            namespace[f"pipeline__{spec.name}"] = build_dag(spec)
        except PipelineFileError as exc:
            errors.append(exc)
        except Exception as exc:  # noqa: BLE001 - a bug building one pipeline must not hide the others
            message = f"{type(exc).__name__}: {exc}"
            errors.append(PipelineFileError(str(path), [PipelineError(str(path), None, "", message)]))
    for exc in errors:
        if not report_import_error(Path(exc.path), str(exc)):
            log.error("Pipeline file %s is invalid:\n%s", exc.path, exc)
    return errors

