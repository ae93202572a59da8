"""The environment of a local Airflow (``airflow standalone`` or its components) on chosen ports.

Used by the demo and by tests, so both run Airflow exactly the same way. Every port Airflow opens is
set explicitly: a second instance on the default ports would silently send its tasks to the first.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def airflow_executable() -> str:
    """The ``airflow`` script of the running interpreter's environment (the project's venv)."""
    candidate = Path(sys.executable).parent / "airflow"
    return str(candidate) if candidate.exists() else "airflow"


@dataclass(frozen=True)
class LocalAirflow:
    home: Path
    dags_folder: Path
    plugins_folder: Path
    api_port: int
    worker_log_port: int
    trigger_log_port: int
    admin_user: str = "admin"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def passwords_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json.generated"

    def admin_password(self) -> str:
        """The admin password, created once per home (so it survives demo restarts) and never logged."""
        self.home.mkdir(parents=True, exist_ok=True)
        if self.passwords_file.exists():
            stored = json.loads(self.passwords_file.read_text() or "{}")
            if self.admin_user in stored:
                return str(stored[self.admin_user])
        else:
            stored = {}
        stored[self.admin_user] = secrets.token_urlsafe(12)
        self.passwords_file.write_text(json.dumps(stored))
        self.passwords_file.chmod(0o600)
        return str(stored[self.admin_user])

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        venv_bin = str(Path(sys.executable).parent)
        env = {
            # standalone starts its components as `airflow <cmd>` found on PATH: use this environment's.
            "PATH": os.pathsep.join([venv_bin, os.environ.get("PATH", "")]),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.plugins_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.admin_user}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.worker_log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_port),
            # New pipeline files show up within seconds instead of Airflow's 5 minutes.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "True",
        }
        env.update(extra or {})
        return env


def local_airflow(
    home: Path, project_dir: Path, *, api_port: int | None = None, prefer_port: int = 8080
) -> LocalAirflow:
    if api_port is None:
        api_port = prefer_port if port_is_free(prefer_port) else free_port()
    return LocalAirflow(
        home=home,
        dags_folder=project_dir / "dags",
        plugins_folder=project_dir / "plugins",
        api_port=api_port,
        worker_log_port=free_port(),
        trigger_log_port=free_port(),
    )
