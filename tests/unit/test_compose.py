"""docker-compose.yaml is consistent (no Docker engine runs here, so the file itself is checked)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import REPO_ROOT

AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    # yaml.safe_load resolves the x-airflow-common anchors and `<<` merges as Compose does.
    return yaml.safe_load((REPO_ROOT / "docker-compose.yaml").read_text())


def test_every_airflow_service_runs_its_component_from_our_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, command in AIRFLOW_SERVICES.items():
        service = services[name]
        assert service["command"] == command, name
        assert service["build"]["context"] == "."
        assert service["image"] == compose["x-airflow-common"]["image"]
    assert services["airflow-init"]["build"]["context"] == "."
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")


def test_shared_environment_points_at_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    common = compose["x-airflow-common"]["environment"]
    assert common["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    db = common["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert re.match(r"postgresql\+psycopg2://[^@]+@postgres/airflow$", db)
    assert common["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://") and "@redis:6379" in common["AIRFLOW__CELERY__BROKER_URL"]
    assert "@postgres/" in common["AIRFLOW__CELERY__RESULT_BACKEND"]
    assert common["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        env = services[name]["environment"]
        for key, value in common.items():
            assert env.get(key) == value, f"{name} has a different {key}"


def test_depends_on_names_existing_services_with_valid_conditions(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dep, spec in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert spec["condition"] in {"service_healthy", "service_started", "service_completed_successfully"}
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy but it has no healthcheck"
    for name in AIRFLOW_SERVICES:
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_dags_and_plugins_are_mounted(compose: dict[str, Any]) -> None:
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        volumes = compose["services"][name]["volumes"]
        assert any(v.endswith("/dags:/opt/airflow/dags") for v in volumes)
        assert any(v.endswith("/plugins:/opt/airflow/plugins") for v in volumes)


def test_authentication_is_never_turned_off(compose: dict[str, Any]) -> None:
    text = (REPO_ROOT / "docker-compose.yaml").read_text().upper()
    assert "SIMPLE_AUTH_MANAGER_ALL_ADMINS" not in text
    assert "FabAuthManager" in compose["x-airflow-common"]["environment"]["AIRFLOW__CORE__AUTH_MANAGER"]
    init = compose["services"]["airflow-init"]["environment"]
    assert init["_AIRFLOW_WWW_USER_CREATE"] == "true"


def test_two_celery_workers(compose: dict[str, Any]) -> None:
    assert compose["services"]["airflow-worker"]["deploy"]["replicas"] == 2


def test_dockerfile_installs_this_package_on_the_pinned_official_image() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    pinned = re.search(r"^apache-airflow==([\d.]+)$", (REPO_ROOT / "requirements.txt").read_text(), re.M)
    assert pinned is not None
    assert f"ARG AIRFLOW_VERSION={pinned.group(1)}" in dockerfile
    assert "FROM apache/airflow:${AIRFLOW_VERSION}" in dockerfile
    assert 'pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" /opt/airflow-delivery' in dockerfile
    compose_version = yaml.safe_load((REPO_ROOT / "docker-compose.yaml").read_text())["x-airflow-common"]["build"]["args"]
    assert compose_version["AIRFLOW_VERSION"] == pinned.group(1)


def test_compose_mounted_folders_exist() -> None:
    assert (REPO_ROOT / "dags").is_dir()
    assert Path(REPO_ROOT / "dags" / "delivery_pipelines.py").is_file()
