"""Classify the summary score against the thresholds: Kayenta's ``ThresholdScoreClassifier``."""

from __future__ import annotations

from typing import Literal

from airflow_delivery.canary.models import ScoreThresholds

ScoreLabel = Literal["Pass", "Marginal", "Fail"]


def classify_score(score: float, thresholds: ScoreThresholds) -> ScoreLabel:
    """``score >= pass`` is Pass, ``score >= marginal`` is Marginal, anything lower Fails.

    Note Orca treats ``score <= marginal`` as a failed interval; this is the judge's own label.
    """
    if score >= thresholds.pass_:
        return "Pass"
    if score >= thresholds.marginal:
        return "Marginal"
    return "Fail"
