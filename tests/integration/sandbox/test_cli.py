"""``airflow-delivery sandbox`` as a real process: it writes a kubeconfig, serves, and exits 0 on SIGTERM."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.support import ManagedProcess, free_port, wait_until

pytestmark = pytest.mark.integration


def test_sandbox_command_serves_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    kubeconfig = tmp_path / "kube" / "config"
    fault = json.dumps({"action": "error", "status": 503, "path": "^/api/v1/namespaces$", "times": 1})
    process = ManagedProcess(
        [sys.executable, "-m", "airflow_delivery.cli", "sandbox", "--port", str(port), "--kubeconfig",
         str(kubeconfig), "--ready-after", "0.1", "--broken-image", "*:broken", "--fault", fault],
        log_path=tmp_path / "sandbox.log",
    )
    try:
        wait_until(kubeconfig.exists, timeout=30, message="the kubeconfig to be written")
        server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        assert server == f"http://127.0.0.1:{port}"
        version = wait_until(lambda: json.loads(urllib.request.urlopen(f"{server}/version", timeout=2).read()),
                             timeout=30, message="/version")
        assert version["gitVersion"] == "v1.30.0"
        with pytest.raises(urllib.error.HTTPError) as injected:
            urllib.request.urlopen(f"{server}/api/v1/namespaces", timeout=2)
        assert injected.value.code == 503
        assert json.loads(urllib.request.urlopen(f"{server}/api/v1/namespaces", timeout=2).read())["items"]
        config = json.loads(urllib.request.urlopen(f"{server}/sandbox/config", timeout=2).read())
        assert config["broken_images"] == ["*:broken"] and config["ready_after"] == 0.1
        process.proc.terminate()
        assert process.proc.wait(timeout=20) == 0, process.log_text()
        assert "sandbox stopped" in process.log_text()
    finally:
        process.stop()


def test_sandbox_command_reports_a_bad_fault(tmp_path: Path) -> None:
    process = ManagedProcess([sys.executable, "-m", "airflow_delivery.cli", "sandbox", "--port", "0",
                              "--kubeconfig", str(tmp_path / "kc"), "--fault", '{"action": "boom"}'],
                             log_path=tmp_path / "sandbox.log")
    try:
        assert process.proc.wait(timeout=60) == 2
        assert "fault action 'boom'" in process.log_text()
    finally:
        process.stop()
