"""The kubernetes package is pure: importing it imports neither Airflow nor the Kubernetes client."""

from __future__ import annotations

import subprocess
import sys

MODULES = ["manifests", "artifacts", "versioning", "stability", "render"]


def test_kubernetes_modules_import_neither_airflow_nor_the_kubernetes_client() -> None:
    imports = "; ".join(f"import airflow_delivery.kubernetes.{name}" for name in MODULES)
    check = (
        "import sys; print(sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'kubernetes', "
        "'kubernetes_asyncio')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"{imports}; {check}"], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
