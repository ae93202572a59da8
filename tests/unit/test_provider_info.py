"""The provider registers with Airflow the way Airflow's ProvidersManager expects."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import distribution
from importlib.resources import files
from pathlib import Path

import jsonschema
from packaging.utils import canonicalize_name

from airflow_delivery import __version__
from airflow_delivery.get_provider_info import get_provider_info

AIRFLOW = str(Path(sys.executable).parent / "airflow")


def test_provider_info_passes_airflow_runtime_schema() -> None:
    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_package_name_is_the_canonical_distribution_name() -> None:
    dist = distribution("airflow-provider-delivery")
    assert get_provider_info()["package-name"] == canonicalize_name(dist.metadata["Name"])
    assert dist.version == __version__


def test_every_declared_module_and_hook_class_imports() -> None:
    import importlib

    info = get_provider_info()
    modules = [m for section in ("hooks", "operators", "triggers") for entry in info[section] for m in entry["python-modules"]]
    for module in modules:
        importlib.import_module(module)
    for conn in info["connection-types"]:
        module, _, cls = conn["hook-class-name"].rpartition(".")
        hook = getattr(importlib.import_module(module), cls)
        assert hook.conn_type == conn["connection-type"], f"{cls}.conn_type disagrees with provider info"


def test_airflow_providers_list_shows_us_with_version() -> None:
    out = subprocess.run([AIRFLOW, "providers", "list", "--output", "json"], capture_output=True, text=True, check=True)
    providers = {p["package_name"]: p for p in json.loads(out.stdout)}
    assert providers["airflow-provider-delivery"]["version"] == __version__


def test_connection_types_are_declarative_and_registered() -> None:
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManagerTaskRuntime()
    hooks = manager.hooks
    assert hooks["container_registry"].hook_class_name == "airflow_delivery.hooks.registry.ContainerRegistryHook"
    assert hooks["prometheus"].hook_class_name == "airflow_delivery.hooks.prometheus.PrometheusHook"
    # Kubernetes and Slack keep their own providers' types.
    assert hooks["kubernetes"].package_name == "apache-airflow-providers-cncf-kubernetes"
    assert hooks["slack"].package_name == "apache-airflow-providers-slack"
    fields = {conn["connection-type"]: conn["conn-fields"] for conn in get_provider_info()["connection-types"]}
    assert fields["prometheus"]["bearer_token"]["schema"]["format"] == "password"
    assert fields["container_registry"]["verify_tls"]["schema"]["default"] is True
