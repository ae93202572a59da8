"""Fixtures for tests against a real ``docker-registry`` (see ``tests/fixtures/registry.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.registry import RegistryServer, run_registry

REGISTRY_USER = "ci-bot"
REGISTRY_PASSWORD = "s3cret-registry-pass"


@pytest.fixture(scope="module")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """An anonymous registry shared by the tests of one module (each test uses its own repositories)."""
    with run_registry(tmp_path_factory.mktemp("registry")) as server:
        yield server


@pytest.fixture(scope="module")
def auth_registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry with htpasswd basic auth for ``REGISTRY_USER``."""
    with run_registry(
        tmp_path_factory.mktemp("auth-registry"), users={REGISTRY_USER: REGISTRY_PASSWORD}
    ) as server:
        yield server


@pytest.fixture
def registry_conn_id(registry_server: RegistryServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A ``container_registry`` connection (through ``AIRFLOW_CONN_*``) to ``registry_server``."""
    monkeypatch.setenv("AIRFLOW_CONN_REGISTRY_TEST", registry_server.connection_json())
    return "registry_test"
