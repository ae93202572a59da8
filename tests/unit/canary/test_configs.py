"""Canary config resolution (inline, file path, name in a folder) and the packaged golden signals."""

from __future__ import annotations

import json

import pytest
from airflow_delivery.canary.configs import (
    PACKAGED_CONFIGS,
    CanaryConfigNotFound,
    available,
    load_canary_config,
)
from airflow_delivery.canary.models import RequestError, parse_canary_config


def test_packaged_golden_signal_configs_are_valid_kayenta_prometheus_configs():
    assert {"latency", "error-rate", "saturation", "golden-signals"} <= set(available())
    for name in available():
        config = load_canary_config(name)
        parsed = parse_canary_config(config)
        for metric in parsed.metrics:
            assert metric.query["type"] == "prometheus"
            template = metric.query["customInlineTemplate"]
            assert template.startswith("PromQL:") and "${scope}" in template and "${location}" in template


def test_inline_dict_is_validated_and_returned():
    config = {"metrics": [{"name": "m", "groups": ["g"]}]}
    assert load_canary_config(config) == config
    with pytest.raises(RequestError):
        load_canary_config({"metrics": "nope"})


def test_path_to_a_json_file(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"metrics": [{"name": "m", "groups": ["g"]}]}))
    assert load_canary_config(str(path))["metrics"][0]["name"] == "m"
    assert load_canary_config(path)["metrics"][0]["name"] == "m"


def test_name_from_a_custom_folder(tmp_path):
    (tmp_path / "checkout.json").write_text(json.dumps({"metrics": [{"name": "m"}]}))
    assert load_canary_config("checkout", folder=tmp_path)["metrics"][0]["name"] == "m"
    with pytest.raises(CanaryConfigNotFound, match="available: checkout"):
        load_canary_config("payments", folder=tmp_path)


def test_missing_file_and_bad_content_name_the_file(tmp_path):
    with pytest.raises(CanaryConfigNotFound, match="does not exist"):
        load_canary_config(str(tmp_path / "absent.json"))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(RequestError, match="broken.json"):
        load_canary_config(str(broken))
    invalid = tmp_path / "invalid.json"
    invalid.write_text(
        json.dumps({"metrics": [{"name": "m", "analysisConfigurations": {"canary": {"direction": "up"}}}]})
    )
    with pytest.raises(RequestError) as info:
        load_canary_config(str(invalid))
    assert info.value.path.endswith("canaryConfig.metrics[0].analysisConfigurations.canary.direction")
    assert str(invalid) in info.value.path


def test_unknown_packaged_name_lists_what_exists():
    with pytest.raises(CanaryConfigNotFound, match="latency"):
        load_canary_config("nonexistent")
    assert PACKAGED_CONFIGS.is_dir()
