from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import REPO_ROOT

CLI = [sys.executable, "-m", "airflow_delivery.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True)


def test_shipped_pipelines_validate() -> None:
    out = run("validate", str(REPO_ROOT / "dags" / "pipelines"))
    assert out.returncode == 0, out.stderr
    assert "pipeline files valid" in out.stdout


def test_errors_name_file_line_and_field_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: p\nstages:\n  - id: a\n    type: wait\n    duration: soon\n")
    out = run("validate", str(tmp_path))
    assert out.returncode == 1
    assert f"{bad}:5: stages[0].duration: 'soon' is not a duration" in out.stderr


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    assert run("validate", str(tmp_path / "nope.yaml")).returncode == 1
    empty = run("validate", str(tmp_path))
    assert empty.returncode == 1 and "no pipeline files" in empty.stderr


def test_schema_command_prints_the_json_schema(tmp_path: Path) -> None:
    out = run("schema")
    assert out.returncode == 0
    schema = json.loads(out.stdout)
    assert schema["title"] == "Airflow Delivery pipeline"
    target = tmp_path / "schema.json"
    assert run("schema", "-o", str(target)).returncode == 0
    assert json.loads(target.read_text()) == schema
