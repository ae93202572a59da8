"""Metric classification: every rule of Kayenta's MannWhitneyClassifier, with hand-worked samples.

Aspects: Nodata / NodataFailMetric / replace-means-Pass, identical samples, single value overall,
seeded noise for constant samples (a zero side stays zero), High / Low / Pass by the tolerance band,
direction, the effect-size gate (meanRatio and CLES), zero means (NaN effect size skips the gate),
critical escalation and its effect-size gate, Error for a failed comparison, tolerance/confidence
parameters.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from airflow_delivery.canary.classifier import classify, cles, mean_ratio
from airflow_delivery.canary.mannwhitney import confidence_interval
from airflow_delivery.canary.models import EffectSizeConfig, MetricAnalysisConfig

CONTROL = np.array([10.0, 11.0, 9.5, 10.5, 10.2, 9.8, 10.1, 10.9, 9.7, 10.3, 10.0, 10.6])
HIGHER = CONTROL * 1.5
LOWER = CONTROL * 0.5


def _classify(control, experiment, tolerance=0.25, level=0.98, seed=(0,), **analysis):
    return classify(
        "m",
        np.asarray(control, dtype=float),
        np.asarray(experiment, dtype=float),
        MetricAnalysisConfig(**analysis),
        tolerance=tolerance,
        confidence_level=level,
        noise_seed=seed,
    )


# --- step 1: no data ---------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["experiment", "control"])
def test_an_empty_side_is_nodata(side):
    control, experiment = (CONTROL, []) if side == "experiment" else ([], CONTROL)
    result = _classify(control, experiment)
    assert (result.classification, result.reason, result.deviation, result.critical) == (
        "Nodata",
        "Missing data for m",
        1.0,
        False,
    )


def test_critical_nodata_is_critical():
    result = _classify(CONTROL, [], critical=True)
    assert (result.classification, result.critical) == ("Nodata", True)


def test_must_have_data_fails_the_metric_unless_critical():
    assert _classify(CONTROL, [], must_have_data=True).classification == "NodataFailMetric"
    assert _classify(CONTROL, [], must_have_data=True).critical is False
    critical = _classify(CONTROL, [], must_have_data=True, critical=True)
    assert (critical.classification, critical.critical) == ("Nodata", True)


def test_with_nan_replacement_no_data_is_a_pass_even_with_must_have_data():
    result = _classify([], CONTROL, nan_strategy="replace", must_have_data=True, critical=True)
    assert (result.classification, result.critical, result.deviation) == ("Pass", False, 1.0)


# --- steps 2 and 3: identical samples, one value overall ---------------------------------------


def test_identical_samples_in_any_order_pass():
    result = _classify(CONTROL, CONTROL[::-1])
    assert (result.classification, result.reason) == ("Pass", "The Canary and Baseline data are identical")
    assert result.statistics["decidedBy"] == "identical"


def test_a_single_value_on_both_sides_passes_even_with_different_lengths():
    result = _classify([1.0, 1.0], [1.0, 1.0, 1.0])
    assert (result.classification, result.reason, result.deviation) == ("Pass", None, 1.0)
    assert result.statistics["decidedBy"] == "singleValue"


# --- step 4: the comparison --------------------------------------------------------------------


def test_higher_experiment_is_high_and_lower_is_low():
    high = _classify(CONTROL, HIGHER)
    assert (high.classification, high.reason) == ("High", "m was classified as High")
    assert high.deviation == pytest.approx(1.5)
    low = _classify(CONTROL, LOWER)
    assert (low.classification, low.reason) == ("Low", "m was classified as Low")


def test_the_decision_uses_the_interval_and_the_tolerance_band():
    result = _classify(CONTROL, HIGHER)
    s = result.statistics
    expected = confidence_interval(HIGHER, CONTROL, 0.98)
    assert (s["lowerConfidenceBound"], s["upperConfidenceBound"], s["estimate"]) == (
        expected.lower,
        expected.upper,
        expected.estimate,
    )
    assert s["upperToleranceBound"] == 0.25 * abs(expected.estimate) == -s["lowerToleranceBound"]
    assert s["lowerConfidenceBound"] > s["upperToleranceBound"]


def test_tolerance_parameter_moves_the_band():
    rng = np.random.default_rng(5)
    control = rng.normal(100, 10, 60)
    experiment = rng.normal(104, 10, 60)
    interval = confidence_interval(experiment, control, 0.98)
    ratio = interval.lower / abs(interval.estimate)  # the tolerance at which the verdict flips
    assert 0 < ratio < 1
    assert _classify(control, experiment, tolerance=ratio * 0.9).classification == "High"
    assert _classify(control, experiment, tolerance=ratio * 1.1).classification == "Pass"


def test_confidence_level_parameter_widens_the_interval():
    narrow = _classify(CONTROL, CONTROL + 0.3, level=0.8).statistics
    wide = _classify(CONTROL, CONTROL + 0.3, level=0.99).statistics
    assert wide["lowerConfidenceBound"] < narrow["lowerConfidenceBound"]
    assert wide["upperConfidenceBound"] > narrow["upperConfidenceBound"]
    assert (narrow["confidenceLevel"], wide["confidenceLevel"]) == (0.8, 0.99)


@pytest.mark.parametrize(
    ("direction", "experiment", "label"),
    [
        ("increase", HIGHER, "High"),
        ("increase", LOWER, "Pass"),
        ("decrease", HIGHER, "Pass"),
        ("decrease", LOWER, "Low"),
        ("either", HIGHER, "High"),
        ("either", LOWER, "Low"),
    ],
)
def test_direction_limits_which_changes_fail(direction, experiment, label):
    assert _classify(CONTROL, experiment, direction=direction).classification == label


def test_effect_size_gate_blocks_small_mean_ratios():
    experiment = CONTROL * 1.1
    assert _classify(CONTROL, experiment).classification == "High"
    gated = _classify(CONTROL, experiment, effect_size=EffectSizeConfig(allowed_increase=1.2))
    assert gated.classification == "Pass"
    assert gated.statistics["effectSize"] == pytest.approx(1.1)
    low_gated = _classify(CONTROL, CONTROL * 0.9, effect_size=EffectSizeConfig(allowed_decrease=0.8))
    assert low_gated.classification == "Pass"


def test_cles_effect_size():
    assert cles(np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0])) == pytest.approx(7 / 9)
    cles_config = EffectSizeConfig(
        measure="cles",
        allowed_increase=0.5,
        allowed_decrease=0.5,
        critical_increase=0.5,
        critical_decrease=0.5,
    )
    result = _classify(CONTROL, HIGHER, effect_size=cles_config)
    assert result.classification == "High"
    assert result.statistics["effectSize"] == 1.0  # every experiment value above every control value
    assert result.deviation == pytest.approx(1.5)  # the ratio is still the mean ratio
    strict = EffectSizeConfig(measure="cles", allowed_increase=1.01)
    assert _classify(CONTROL, HIGHER, effect_size=strict).classification == "Pass"


def test_zero_mean_gives_nan_ratio_and_skips_the_effect_size_gate():
    control = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, -1.5, 1.5, 0.0])
    assert mean_ratio(control, control + 5) != mean_ratio(control, control + 5)  # NaN
    result = _classify(control, control + 5, effect_size=EffectSizeConfig(allowed_increase=100.0))
    assert result.classification == "High"
    assert math.isnan(result.deviation) and math.isnan(result.statistics["effectSize"])
    assert math.isnan(mean_ratio(np.array([1.0, 2.0]), np.array([0.0, 0.0])))


# --- constant samples: seeded noise ------------------------------------------------------------


def test_constant_samples_get_reproducible_noise():
    first = _classify([2.0] * 20, [3.0] * 20, seed=(1, 4))
    again = _classify([2.0] * 20, [3.0] * 20, seed=(1, 4))
    other = _classify([2.0] * 20, [3.0] * 20, seed=(2, 4))
    assert first.classification == again.classification == other.classification == "High"
    assert first.statistics == again.statistics
    assert first.statistics["noiseAdded"] is True
    assert first.statistics["estimate"] != other.statistics["estimate"]


def test_a_zero_constant_side_gets_no_noise():
    seen = {}

    def recording_interval(experiment, control, level):
        seen["experiment"], seen["control"] = experiment.copy(), control.copy()
        return confidence_interval(experiment, control, level)

    result = classify(
        "m",
        np.zeros(10),
        np.full(10, 5.0),
        MetricAnalysisConfig(),
        tolerance=0.25,
        confidence_level=0.98,
        interval=recording_interval,
    )
    assert (seen["control"] == 0.0).all()
    assert not (seen["experiment"] == 5.0).all()
    assert np.abs(seen["experiment"] - 5.0).max() < 5.0 * 1e-5 * 10
    assert result.classification == "High"


# --- step 5: critical escalation ---------------------------------------------------------------


def test_critical_high_is_escalated():
    result = _classify(CONTROL, HIGHER, critical=True)
    assert (result.classification, result.critical) == ("High", True)
    assert result.reason == "The metric m was classified as High (Critical)"
    low = _classify(CONTROL, LOWER, critical=True)
    assert (low.classification, low.critical, low.reason) == (
        "Low",
        True,
        "The metric m was classified as Low (Critical)",
    )


def test_critical_effect_size_gate_keeps_the_label_without_escalating():
    mild = EffectSizeConfig(critical_increase=2.0)
    result = _classify(CONTROL, HIGHER, critical=True, effect_size=mild)
    assert (result.classification, result.critical, result.reason) == (
        "High",
        False,
        "m was classified as High",
    )


def test_pass_on_a_critical_metric_is_not_critical():
    assert _classify(CONTROL, CONTROL + 0.01, critical=True).critical is False


# --- Error -------------------------------------------------------------------------------------


def test_a_failed_comparison_is_an_error_result_not_an_exception():
    result = _classify(CONTROL, [1.0, math.inf, 2.0], critical=True)
    assert (result.classification, result.reason, result.deviation, result.critical) == (
        "Error",
        "Metric Classification Failed",
        None,
        False,
    )
    assert "infinite" in result.statistics["error"]
