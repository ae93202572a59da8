"""One-line explanations name the decisive numbers and the rule that applied."""

from __future__ import annotations

import numpy as np
from airflow_delivery.canary.classifier import classify
from airflow_delivery.canary.explain import explain_metric, explain_score
from airflow_delivery.canary.models import EffectSizeConfig, MetricAnalysisConfig
from airflow_delivery.canary.preprocess import describe
from airflow_delivery.canary.scorer import ScoredMetric, score

CONTROL = np.array([10.0, 11.0, 9.5, 10.5, 10.2, 9.8, 10.1, 10.9, 9.7, 10.3])


def _explain(control, experiment, muted=False, **analysis) -> str:
    control, experiment = np.asarray(control, dtype=float), np.asarray(experiment, dtype=float)
    result = classify(
        "lat", control, experiment, MetricAnalysisConfig(**analysis), tolerance=0.25, confidence_level=0.98
    )
    return explain_metric("lat", result, describe(control), describe(experiment), muted=muted)


def test_high_names_interval_band_and_change():
    text = _explain(CONTROL, CONTROL * 1.5, critical=True)
    assert text.startswith("lat: High: the 98% CI of the shift [")
    assert "above the tolerance band" in text and "(+50.0%)" in text and "canary fails" in text
    assert "\n" not in text


def test_pass_explains_which_rule_kept_it():
    assert "reaches into the tolerance band" in _explain(CONTROL, CONTROL + 0.01)
    assert "direction is 'decrease'" in _explain(CONTROL, CONTROL * 1.5, direction="decrease")
    assert "below allowedIncrease 2" in _explain(
        CONTROL, CONTROL * 1.5, effect_size=EffectSizeConfig(allowed_increase=2.0)
    )
    assert "identical" in _explain(CONTROL, CONTROL)


def test_nodata_and_muted():
    assert "no experiment data" in _explain(CONTROL, [])
    assert "mustHaveData" in _explain(CONTROL, [], must_have_data=True)
    assert "'replace'" in _explain([], CONTROL, nan_strategy="replace")
    assert _explain(CONTROL, CONTROL, muted=True).endswith("(muted: reported, not scored)")


def test_score_explanation_lists_groups_and_weights_or_the_failure():
    ok = score(
        [ScoredMetric("Pass", None, ("a",), False, False), ScoredMetric("High", None, ("b",), False, False)],
        {"a": 60},
    )
    assert (
        explain_score(ok, "Marginal", 75, 50)
        == "Marginal (60; pass >= 75, marginal >= 50): a 100 x 60%; b 0 x 40%"
    )
    failed = score([ScoredMetric("Nodata", "Missing data for x", ("a",), True, False)], {})
    assert explain_score(failed, "Fail", 75, 50) == "Fail (0): Missing data for x"
