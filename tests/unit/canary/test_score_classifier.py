"""Summary classification against the thresholds (boundaries are inclusive)."""

from __future__ import annotations

import pytest
from airflow_delivery.canary.models import ScoreThresholds
from airflow_delivery.canary.score_classifier import classify_score


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (100.0, "Pass"),
        (75.0, "Pass"),
        (74.99, "Marginal"),
        (50.0, "Marginal"),
        (49.99, "Fail"),
        (0.0, "Fail"),
    ],
)
def test_thresholds(score, label):
    assert classify_score(score, ScoreThresholds(pass_=75.0, marginal=50.0)) == label
