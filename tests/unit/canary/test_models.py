"""Parsing Kayenta's JSON: defaults, accepted spellings, and errors that name the JSON path."""

from __future__ import annotations

import math

import numpy as np
import pytest
from airflow_delivery.canary.models import (
    RequestError,
    parse_canary_config,
    parse_metric_set_pairs,
    parse_score_thresholds,
)


def _config(canary: dict | None = None, **extra) -> dict:
    metric = {"name": "m", "groups": ["g"], "query": {"type": "prometheus", "metricName": "x"}}
    if canary is not None:
        metric["analysisConfigurations"] = {"canary": canary}
    return {"metrics": [{"name": "first", "groups": ["g"]}, {"name": "second"}, metric], **extra}


def test_defaults_are_kayentas():
    config = parse_canary_config(_config())
    analysis = config.metrics[2].analysis
    assert (analysis.direction, analysis.nan_strategy, analysis.outliers.strategy) == (
        "either",
        "remove",
        "keep",
    )
    assert analysis.outliers.factor == 3.0
    assert not (analysis.critical or analysis.must_have_data or analysis.muted)
    assert analysis.effect_size.measure == "meanRatio"
    assert analysis.effect_size.allowed_increase == analysis.effect_size.critical_decrease == 1.0
    assert (config.judge.tolerance, config.judge.confidence_level) == (0.25, 0.98)
    assert config.group_weights == {}
    assert config.metrics[1].groups == ()


def test_cles_changes_the_effect_size_defaults_to_one_half():
    analysis = parse_canary_config(_config({"effectSize": {"measure": "cles"}})).metrics[2].analysis
    assert analysis.effect_size.allowed_increase == analysis.effect_size.allowed_decrease == 0.5
    assert analysis.effect_size.critical_increase == analysis.effect_size.critical_decrease == 0.5


def test_none_is_kayentas_spelling_of_the_default_strategies():
    analysis = (
        parse_canary_config(_config({"nanStrategy": "none", "outliers": {"strategy": "none"}}))
        .metrics[2]
        .analysis
    )
    assert (analysis.nan_strategy, analysis.outliers.strategy) == ("remove", "keep")


def test_judge_configurations_override_tolerance_and_confidence():
    config = parse_canary_config(
        _config(
            judge={
                "name": "NetflixACAJudge-v1.0",
                "judgeConfigurations": {"tolerance": 0.1, "confidenceLevel": 0.95},
            }
        )
    )
    assert (config.judge.tolerance, config.judge.confidence_level) == (0.1, 0.95)


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (_config({"direction": "up"}), "canaryConfig.metrics[2].analysisConfigurations.canary.direction"),
        (
            _config({"nanStrategy": "zero"}),
            "canaryConfig.metrics[2].analysisConfigurations.canary.nanStrategy",
        ),
        (_config({"critical": "true"}), "canaryConfig.metrics[2].analysisConfigurations.canary.critical"),
        (
            _config({"outliers": {"outlierFactor": "3"}}),
            "canaryConfig.metrics[2].analysisConfigurations.canary.outliers.outlierFactor",
        ),
        (
            _config({"effectSize": {"measure": "cohenD"}}),
            "canaryConfig.metrics[2].analysisConfigurations.canary.effectSize.measure",
        ),
        (
            _config({"effectSize": {"allowedIncrease": -1}}),
            "canaryConfig.metrics[2].analysisConfigurations.canary.effectSize.allowedIncrease",
        ),
        (_config(classifier={"groupWeights": {"g": "50"}}), "canaryConfig.classifier.groupWeights.g"),
        (_config(judge={"name": "dredd-v1.0"}), "canaryConfig.judge.name"),
        (
            _config(judge={"judgeConfigurations": {"confidence": 0.9}}),
            "canaryConfig.judge.judgeConfigurations.confidence",
        ),
        (
            _config(judge={"judgeConfigurations": {"confidenceLevel": 1.0}}),
            "canaryConfig.judge.judgeConfigurations.confidenceLevel",
        ),
        ({"metrics": []}, "canaryConfig.metrics"),
        ({"name": "no metrics"}, "canaryConfig.metrics"),
        ({"metrics": [{"groups": ["g"]}]}, "canaryConfig.metrics[0].name"),
        ({"metrics": [{"name": "m", "groups": "g"}]}, "canaryConfig.metrics[0].groups"),
        ([], "canaryConfig"),
    ],
)
def test_config_errors_name_the_json_path(raw, path):
    with pytest.raises(RequestError) as info:
        parse_canary_config(raw)
    assert info.value.path == path
    assert path in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unknown_direction_error_lists_the_valid_values():
    with pytest.raises(RequestError, match="'increase', 'decrease', 'either'"):
        parse_canary_config(_config({"direction": "Increase"}))


def test_metric_set_pairs_accept_nan_null_and_jackson_strings():
    config = parse_canary_config(_config())
    (pair,) = parse_metric_set_pairs(
        [
            {
                "name": "m",
                "id": 7,
                "tags": {"pod": "a"},
                "values": {"control": [1, None, "NaN"], "experiment": [2.5, "Infinity", "-Infinity"]},
            }
        ],
        config,
    )
    assert pair.id == "7" and pair.tags == {"pod": "a"}
    assert np.isnan(pair.control[1:]).all() and pair.control[0] == 1.0
    assert pair.experiment[1] == math.inf and pair.experiment[2] == -math.inf


@pytest.mark.parametrize(
    ("pairs", "path"),
    [
        ([{"name": "nope", "values": {"control": [], "experiment": []}}], "metricSetPairList[0].name"),
        (
            [{"name": "m", "values": {"control": [1, "x"], "experiment": []}}],
            "metricSetPairList[0].values.control[1]",
        ),
        (
            [{"name": "m", "values": {"control": [True], "experiment": []}}],
            "metricSetPairList[0].values.control[0]",
        ),
        ([{"name": "m", "values": {"control": []}}], "metricSetPairList[0].values.experiment"),
        ([{"name": "m", "values": {"control": {}, "experiment": []}}], "metricSetPairList[0].values.control"),
        ([{"name": "m"}], "metricSetPairList[0].values"),
        ({"name": "m"}, "metricSetPairList"),
    ],
)
def test_metric_set_pair_errors_name_the_json_path(pairs, path):
    with pytest.raises(RequestError) as info:
        parse_metric_set_pairs(pairs, parse_canary_config(_config()))
    assert info.value.path == path


def test_score_thresholds_default_to_orcas_and_are_validated():
    assert parse_score_thresholds(None).pass_ == 75.0
    assert parse_score_thresholds(None).marginal == 50.0
    assert parse_score_thresholds({"pass": 90, "marginal": 60.5}).marginal == 60.5
    with pytest.raises(RequestError) as info:
        parse_score_thresholds({"pass": 50, "marginal": 80})
    assert info.value.path == "scoreThresholds.marginal"
    with pytest.raises(RequestError) as info:
        parse_score_thresholds({"pass": "high"})
    assert info.value.path == "scoreThresholds.pass"
