"""The artifacts package is pure: importing it must not import Airflow (or make any connection)."""

from __future__ import annotations

import subprocess
import sys

MODULES = ["auth", "errors", "oci", "protocol", "references", "tags"]


def test_artifacts_modules_do_not_import_airflow() -> None:
    imports = "; ".join(f"import airflow_delivery.artifacts.{name}" for name in MODULES)
    check = "import sys; bad = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')); print(bad)"
    result = subprocess.run(
        [sys.executable, "-c", f"{imports}; {check}"], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
