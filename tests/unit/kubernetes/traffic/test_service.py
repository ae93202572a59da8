"""Service selector routing: enable one version by its version label (pure functions)."""

from __future__ import annotations

import pytest

from airflow_delivery.kubernetes.traffic.base import TrafficError, UnsupportedTrafficError, Weights
from airflow_delivery.kubernetes.traffic.service import (
    DEFAULT_VERSION_LABEL,
    enable_patch,
    enabled_version,
    role_receiving_all,
)

SERVICE = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web", DEFAULT_VERSION_LABEL: "v003"}}}


def test_enable_changes_only_the_version_label() -> None:
    assert enabled_version(SERVICE, DEFAULT_VERSION_LABEL) == "v003"
    assert enable_patch(SERVICE, DEFAULT_VERSION_LABEL, "v004") == {"spec": {"selector": {DEFAULT_VERSION_LABEL: "v004"}}}
    assert enable_patch(SERVICE, DEFAULT_VERSION_LABEL, "v003") is None


def test_a_service_without_selector_cannot_route_by_version() -> None:
    with pytest.raises(TrafficError, match="Service web has no selector"):
        enable_patch({"metadata": {"name": "web"}, "spec": {}}, DEFAULT_VERSION_LABEL, "v004")


def test_only_all_or_nothing_weights() -> None:
    assert role_receiving_all(Weights.parse({"stable": 0, "canary": 100})) == "canary"
    assert role_receiving_all(Weights.canary_percent(0)) == "stable"
    with pytest.raises(UnsupportedTrafficError, match="cannot split traffic"):
        role_receiving_all(Weights.canary_percent(10))
