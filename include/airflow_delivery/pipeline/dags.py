"""Build every pipeline of a folder into DAGs: what ``dags/delivery_pipelines.py`` calls.

Each file is read once and looked up in the DAG cache (``pipeline.cache``) by its content; only a
file that is new, edited, or broken is parsed, validated and built. The dag-processor re-imports
the loader in a fresh process every 30 s, so in the steady state a parse is 500 small reads and
unpickles instead of 500 validations and 5,000 operator constructions. A broken file is never
cached, so its import error is reported on every parse as before.

On a worker only the pipeline of the task being run is built (``get_parsing_context``), so starting
a task costs one pipeline's load, not the whole folder's. The spec and factory modules (pydantic
models, stage registry) are imported only on a cache miss: a warm load needs neither.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_delivery.pipeline.cache import DagCache, default_cache

if TYPE_CHECKING:
    from airflow_delivery.pipeline.loader import PipelineFileError
    from airflow_delivery.pipeline.spec import PipelineSpec

log = logging.getLogger(__name__)

# The same rule as ``loader.find_pipeline_files``, repeated here so a warm parse does not import the
# loader (and with it every pydantic stage model); a unit test keeps the two in step.
_SUFFIXES = (".yaml", ".yml")


def pipeline_files(folder: Path) -> Iterator[Path]:
    """Pipeline files under ``folder``, sorted so DAG order is stable between parses."""
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        if path.suffix in _SUFFIXES and path.is_file() and not path.name.startswith("."):
            yield path


@dataclass
class _Pipeline:
    """One pipeline file, read: either its cached DAG, or its validated spec still to be built."""

    path: Path
    name: str
    key: str | None
    dag: Any = None
    spec: PipelineSpec | None = None


def _file_error(path: Path, field: str, message: str) -> PipelineFileError:
    from airflow_delivery.pipeline.loader import PipelineError, PipelineFileError

    return PipelineFileError(str(path), [PipelineError(str(path), None, field, message)])


def _as_file_error(path: Path, exc: Exception) -> PipelineFileError:
    """``exc`` as the error of ``path``: a validation error as it is, anything else (a bug) by name."""
    from airflow_delivery.pipeline.loader import PipelineFileError

    if isinstance(exc, PipelineFileError):
        return exc
    return _file_error(path, "", f"{type(exc).__name__}: {exc}")


def _read(path: Path, cache: DagCache | None) -> _Pipeline:
    """Read ``path`` once; a cache hit needs nothing else, a miss is parsed and validated.

    Raises ``PipelineFileError`` for an unreadable or invalid file.
    """
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise _file_error(path, "", f"cannot read file: {exc}") from exc
    key = cache.key(content) if cache is not None else None
    if cache is not None and key is not None and (dag := cache.load(key)) is not None:
        return _Pipeline(path, dag.dag_id, key, dag=dag)
    from airflow_delivery.pipeline.loader import parse_pipeline_text

    spec = parse_pipeline_text(content.decode("utf-8"), str(path))
    return _Pipeline(path, spec.name, key, spec=spec)


def _dag_of(pipeline: _Pipeline, cache: DagCache | None) -> Any:
    """The pipeline's DAG: the cached one, or built now and stored (only valid files get here)."""
    if pipeline.dag is not None:
        return pipeline.dag
    from airflow_delivery.pipeline.factory import build_dag

    assert pipeline.spec is not None  # a _Pipeline without a DAG always has its spec
    dag = build_dag(pipeline.spec)
    if cache is not None and pipeline.key is not None:
        cache.store(pipeline.key, dag)
    return dag


def _build_one(folder: Path, dag_id: str, namespace: dict[str, Any], cache: DagCache | None) -> bool:
    """Worker fast path: build only ``<dag_id>.yaml`` if that file defines ``dag_id``.

    Files are conventionally named after their pipeline; when one is not, or anything goes wrong,
    the caller scans them all (and reports errors the normal way).
    """
    for suffix in _SUFFIXES:
        candidates = [folder / f"{dag_id}{suffix}", *folder.rglob(f"*/{dag_id}{suffix}")]
        for path in candidates:
            if not path.is_file():
                continue
            try:
                pipeline = _read(path, cache)
                if pipeline.name != dag_id:
                    continue
                namespace[f"pipeline__{dag_id}"] = _dag_of(pipeline, cache)
                return True
            except Exception:  # noqa: BLE001 - the full scan below reports it with the file's name
                return False
    return False


def _wanted_dag_id() -> str | None:
    from airflow.sdk import get_parsing_context

    return get_parsing_context().dag_id


_DEFAULT: Any = object()


def build_pipeline_dags(
    folder: str | Path, namespace: dict[str, Any], *, cache: DagCache | None = _DEFAULT
) -> list[PipelineFileError]:
    """Put one DAG per valid pipeline file into ``namespace``; report and return the broken files.

    ``cache``: the process's DAG cache unless given; None builds every pipeline.
    """
    folder = Path(folder)
    cache = default_cache() if cache is _DEFAULT else cache
    wanted = _wanted_dag_id()
    if wanted is not None and _build_one(folder, wanted, namespace, cache):
        return []
    errors = _build_all(folder, wanted, namespace, cache)
    if errors:
        from airflow_delivery.pipeline.import_errors import report_import_error

        for exc in errors:
            if not report_import_error(Path(exc.path), str(exc)):
                log.error("Pipeline file %s is invalid:\n%s", exc.path, exc)
    if cache is not None and wanted is None:
        cache.prune()
    return errors


def _build_all(
    folder: Path, wanted: str | None, namespace: dict[str, Any], cache: DagCache | None
) -> list[PipelineFileError]:
    """Every file of ``folder`` (only ``wanted`` is built when set); duplicate names are errors."""
    errors: list[PipelineFileError] = []
    seen: dict[str, Path] = {}
    for path in pipeline_files(folder):
        try:
            pipeline = _read(path, cache)
            if pipeline.name in seen:
                message = f"pipeline name {pipeline.name!r} is already used by {seen[pipeline.name]}"
                raise _file_error(path, "name", message)
            seen[pipeline.name] = path
            if wanted is not None and pipeline.name != wanted:
                continue
            namespace[f"pipeline__{pipeline.name}"] = _dag_of(pipeline, cache)
        except Exception as exc:  # noqa: BLE001 - a bug building one pipeline must not hide the others
            errors.append(_as_file_error(path, exc))
    return errors
