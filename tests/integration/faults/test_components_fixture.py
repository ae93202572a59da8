"""The component fixture refuses impossible setups before starting anything, and names what is wrong.

Its running behaviour (start, kill, restart, health, logs) is exercised by ``test_canary_faults.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from airflow_delivery.demo.airflow_env import LocalAirflow
from tests.fixtures.airflow_components import (
    CORE_COMPONENTS,
    AirflowComponents,
    components_env,
    start_components,
)

pytestmark = pytest.mark.faults


def local_config(tmp_path: Path) -> LocalAirflow:
    return LocalAirflow(
        home=tmp_path / "home",
        dags_folder=tmp_path / "dags",
        plugins_folder=tmp_path / "plugins",
        api_port=18080,
        worker_log_port=18793,
        trigger_log_port=18794,
    )


@pytest.mark.parametrize(
    ("executor", "workers", "message"),
    [
        ("LocalExecutor", 2, "workers=2 needs executor='CeleryExecutor'"),
        ("CeleryExecutor", 0, "needs workers >= 1"),
        ("SequentialExecutor", 0, "executor 'SequentialExecutor' is not supported"),
    ],
)
def test_impossible_setups_are_refused_before_anything_starts(
    tmp_path: Path, executor: str, workers: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        start_components(tmp_path, executor=executor, workers=workers)
    assert not (tmp_path / "airflow-home").exists()


def test_every_component_gets_the_same_secrets_database_and_execution_api(tmp_path: Path) -> None:
    config = local_config(tmp_path)
    env = components_env(config, sql_alchemy_conn=None, executor="LocalExecutor", extra={"X": "1"})
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{config.home / 'airflow.db'}"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    Fernet(env["AIRFLOW__CORE__FERNET_KEY"].encode())  # a usable key, not a placeholder
    assert len(env["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 32 and env["AIRFLOW__API__SECRET_KEY"]
    assert env["X"] == "1"
    other = components_env(
        config, sql_alchemy_conn="postgresql+psycopg2://u@127.0.0.1/db", executor="CeleryExecutor"
    )
    assert other["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://u@127.0.0.1/db"
    assert other["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert other["AIRFLOW__API_AUTH__JWT_SECRET"] != env["AIRFLOW__API_AUTH__JWT_SECRET"]


def test_unknown_or_stopped_components_are_named(tmp_path: Path) -> None:
    components = AirflowComponents(
        config=local_config(tmp_path), env={}, password="unused", commands=dict(CORE_COMPONENTS)
    )
    with pytest.raises(KeyError, match="unknown Airflow component 'webserver'; components: api-server"):
        components.kill("webserver")
    with pytest.raises(RuntimeError, match="'triggerer' is not running, so it cannot be killed"):
        components.kill("triggerer")
    assert not components.alive("scheduler")
    components.stop("scheduler")  # never started: nothing to do
    assert components.log_paths("scheduler") == []
