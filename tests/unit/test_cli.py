from __future__ import annotations

import subprocess
import sys

from airflow_delivery.cli import COMMANDS


def test_help_lists_every_command_without_importing_them() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from airflow_delivery.cli import main; "
         "sys.argv=['airflow-delivery','--help']; main()"],
        capture_output=True, text=True,
    )
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout


def test_unknown_command_exits_2_with_usage() -> None:
    out = subprocess.run([sys.executable, "-m", "airflow_delivery.cli", "nope"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "invalid choice: 'nope'" in out.stderr


def test_demo_refuses_a_folder_without_dags(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "airflow_delivery.cli", "demo", "--project-dir", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert out.returncode == 2
    assert "no dags/ folder" in out.stdout
