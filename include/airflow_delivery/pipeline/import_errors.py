"""Report a broken pipeline file to Airflow as an import error *of that file*.

All pipelines are built by one loader module, so a plain exception would discard every DAG of that
module and mark all of them broken. Instead the loader hands each failure to the ``DagImportResult``
that Airflow's Python importer is filling for the loader file (found on the call stack), keyed by the
pipeline file's bundle-relative path: the UI and ``/api/v2/importErrors`` then show the YAML file and
its cause, and every other pipeline loads. Outside a DagBag parse (tests, scripts) the errors are only
returned, and the caller decides.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any


def _active_import_result() -> tuple[Any, Path | None] | None:
    frame = inspect.currentframe()
    try:
        while frame is not None:
            result = frame.f_locals.get("result")
            if type(result).__name__ == "DagImportResult" and hasattr(result, "errors"):
                owner = frame.f_locals.get("self")
                bundle_path = None
                # import_file(self, file_path, *, bundle_path, ...) keeps bundle_path in its frame.
                walk = frame
                while walk is not None and bundle_path is None:
                    bundle_path = walk.f_locals.get("bundle_path")
                    walk = walk.f_back
                del owner
                return result, Path(bundle_path) if bundle_path else None
            frame = frame.f_back
        return None
    finally:
        del frame


def report_import_error(path: Path, message: str) -> bool:
    """Record ``message`` as the import error of ``path``; False when no DagBag parse is active."""
    found = _active_import_result()
    if found is None:
        return False
    result, bundle_path = found
    from airflow.dag_processing.importers.base import DagImportError

    relative = str(path)
    if bundle_path is not None:
        try:
            relative = str(path.resolve().relative_to(bundle_path.resolve()))
        except ValueError:
            pass
    result.errors.append(
        DagImportError(file_path=relative, message=message, error_type="pipeline", stacktrace=message)
    )
    return True
