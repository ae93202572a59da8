"""The public entry points: Kayenta's result shape end to end, overrides, request errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from airflow_delivery.canary.judge import judge, judge_request
from airflow_delivery.canary.models import RequestError

RNG = np.random.default_rng(42)
BASE = RNG.normal(100, 5, 120)
SAME = RNG.normal(100, 5, 120)
SLOWER = RNG.normal(120, 5, 120)


def _metric(name: str, group: str, **canary) -> dict:
    return {"name": name, "groups": [group], "analysisConfigurations": {"canary": canary}}


def _pair(name: str, control, experiment, **extra) -> dict:
    return {"name": name, "values": {"control": list(control), "experiment": list(experiment)}, **extra}


CONFIG = {
    "name": "checkout",
    "metrics": [
        _metric("latency", "latency", direction="increase"),
        _metric("errors", "errors", direction="increase", nanStrategy="replace"),
        _metric("cpu", "saturation"),
    ],
    "classifier": {"groupWeights": {"latency": 50, "errors": 30, "saturation": 20}},
}


def test_result_has_kayentas_shape_and_our_extensions():
    result = judge(
        CONFIG,
        [
            _pair("latency", BASE, SLOWER, id="p1", tags={"pod": "a"}),
            _pair("errors", [0, 0, None], [0, 0, 0]),
            _pair("cpu", BASE, SAME),
        ],
        {"pass": 75, "marginal": 50},
    )
    assert result["judgeName"] == "NetflixACAJudge-v1.0"
    latency, errors, cpu = result["results"]
    assert (latency["classification"], errors["classification"], cpu["classification"]) == (
        "High",
        "Pass",
        "Pass",
    )
    assert latency["id"] == "p1" and latency["tags"] == {"pod": "a"} and latency["groups"] == ["latency"]
    assert set(latency["experimentMetadata"]["stats"]) == {"count", "mean", "std", "min", "max"}
    assert latency["resultMetadata"]["ratio"] > 1.15
    stats = latency["resultMetadata"]["statistics"]
    assert stats["lowerConfidenceBound"] > stats["upperToleranceBound"]
    assert latency["resultMetadata"]["explanation"].startswith("latency: High:")
    assert result["groupScores"] == [
        {"name": "latency", "score": 0.0, "classification": "", "classificationReason": ""},
        {"name": "errors", "score": 100.0, "classification": "", "classificationReason": ""},
        {"name": "saturation", "score": 100.0, "classification": "", "classificationReason": ""},
    ]
    assert result["score"]["score"] == 50.0
    assert result["score"]["classification"] == "Marginal"
    assert result["score"]["classificationReason"] == ""
    assert "latency 0 x 50%" in result["score"]["explanation"]


def test_result_is_strict_json_even_with_nan_ratios():
    config = {"metrics": [_metric("zero", "g")]}
    control = [-1.0, 1.0, -2.0, 2.0, 0.0, -0.5, 0.5]
    result = judge(config, [_pair("zero", control, [c + 3 for c in control])])
    assert result["results"][0]["resultMetadata"]["ratio"] == "NaN"
    json.dumps(result, allow_nan=False)


def test_judge_configurations_override_the_hard_coded_numbers():
    rng = np.random.default_rng(9)
    control, experiment = rng.normal(100, 10, 80), rng.normal(104, 10, 80)
    default = judge({"metrics": [_metric("m", "g")]}, [_pair("m", control, experiment)])
    stats = default["results"][0]["resultMetadata"]["statistics"]
    assert (stats["tolerance"], stats["confidenceLevel"]) == (0.25, 0.98)
    loose = {
        "metrics": [_metric("m", "g")],
        "judge": {"judgeConfigurations": {"tolerance": 0.0, "confidenceLevel": 0.5}},
    }
    stats = judge(loose, [_pair("m", control, experiment)])["results"][0]["resultMetadata"]["statistics"]
    assert (stats["tolerance"], stats["confidenceLevel"]) == (0.0, 0.5)
    assert stats["upperToleranceBound"] == 0.0


def test_seed_makes_constant_sample_noise_reproducible():
    config = {"metrics": [_metric("c", "g")]}
    pairs = [_pair("c", [2.0] * 30, [3.0] * 30)]
    assert judge(config, pairs, seed=5) == judge(config, pairs, seed=5)
    a = judge(config, pairs, seed=5)["results"][0]["resultMetadata"]["statistics"]["estimate"]
    b = judge(config, pairs, seed=6)["results"][0]["resultMetadata"]["statistics"]["estimate"]
    assert a != b


def test_one_metric_config_can_have_several_pairs():
    result = judge(
        {"metrics": [_metric("latency", "g")]},
        [
            _pair("latency", BASE, SAME, tags={"zone": "a"}),
            _pair("latency", BASE, SLOWER, tags={"zone": "b"}),
        ],
    )
    assert [r["classification"] for r in result["results"]] == ["Pass", "High"]
    assert result["groupScores"][0]["score"] == 50.0


def test_error_metric_does_not_abort_the_judgment():
    result = judge(
        {"metrics": [_metric("a", "g"), _metric("b", "g")]},
        [_pair("a", BASE, SAME), _pair("b", BASE, [1.0, "Infinity"])],
    )
    assert [r["classification"] for r in result["results"]] == ["Pass", "Error"]
    assert "ratio" not in result["results"][1]["resultMetadata"]
    assert result["score"]["score"] == 100.0


@pytest.mark.parametrize(
    ("request_", "path"),
    [
        ({"metricSetPairList": []}, "canaryConfig"),
        ({"canaryConfig": CONFIG}, "metricSetPairList"),
        (
            {"canaryConfig": CONFIG, "metricSetPairList": [_pair("unknown", [1], [1])]},
            "metricSetPairList[0].name",
        ),
        (
            {"canaryConfig": CONFIG, "metricSetPairList": [], "scoreThresholds": {"pass": "x"}},
            "scoreThresholds.pass",
        ),
        (
            {"canaryConfig": {"metrics": [_metric("m", "g", direction="sideways")]}, "metricSetPairList": []},
            "canaryConfig.metrics[0].analysisConfigurations.canary.direction",
        ),
        ([], "$"),
    ],
)
def test_judge_request_errors_name_the_path_from_the_request_root(request_, path):
    with pytest.raises(RequestError) as info:
        judge_request(request_)
    assert info.value.path == path


def test_judge_request_equals_judge():
    pairs = [_pair("latency", BASE, SLOWER)]
    request = {
        "canaryConfig": CONFIG,
        "metricSetPairList": pairs,
        "scoreThresholds": {"pass": 90, "marginal": 10},
    }
    assert judge_request(request) == judge(CONFIG, pairs, {"pass": 90, "marginal": 10})


def test_the_judge_imports_nothing_from_airflow():
    import subprocess
    import sys

    code = (
        "import sys, airflow_delivery.canary.judge, airflow_delivery.canary.configs; "
        "import airflow_delivery.canary.reference; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'); "
        "assert not bad, bad"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_fetch_outcome_of_the_metrics_source_is_explained() -> None:
    """Pairs from our metrics sources carry status/reason; the judge says why data is missing."""
    config = {
        "metrics": [
            {"name": "latency", "groups": ["g"], "analysisConfigurations": {"canary": {"direction": "increase"}}},
            {"name": "errors", "groups": ["g"], "analysisConfigurations": {"canary": {"direction": "increase"}}},
        ],
        "classifier": {"groupWeights": {"g": 100}},
    }
    pairs = [
        {"name": "latency", "status": "error", "reason": "Prometheus prometheus_default unreachable",
         "values": {"control": [], "experiment": []}},
        {"name": "errors", "status": "nodata", "reason": "no samples for query 'x'",
         "values": {"control": [], "experiment": []}},
    ]
    result = judge(config, pairs, {"pass": 75, "marginal": 50})
    by_name = {r["name"]: r for r in result["results"]}
    assert by_name["latency"]["classification"] == "NodataFailMetric"
    assert by_name["latency"]["classificationReason"] == "Metrics fetch failed: Prometheus prometheus_default unreachable"
    assert by_name["errors"]["classification"] == "Nodata"
    assert by_name["errors"]["classificationReason"] == "Missing data for errors: no samples for query 'x'"
    assert result["score"]["classification"] == "Fail"


def test_a_canary_whose_every_fetch_failed_fails() -> None:
    config = {
        "metrics": [{"name": "latency", "groups": ["g"], "analysisConfigurations": {"canary": {"direction": "increase"}}}],
        "classifier": {"groupWeights": {"g": 100}},
    }
    pairs = [{"name": "latency", "status": "error", "reason": "connection refused", "values": {"control": [], "experiment": []}}]
    result = judge(config, pairs, {"pass": 75, "marginal": 50})
    assert result["score"]["score"] == 0
    assert result["score"]["classification"] == "Fail"
