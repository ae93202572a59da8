"""One-line human explanations of a metric verdict and of the summary score.

Kayenta's reasons say *what* ("latency was classified as High") but not *why*; users mostly ask why a
big-looking change passed (the interval reached into the tolerance band, or the effect-size gate or the
direction blocked it) or why the canary scored 0. Each line names the numbers the decision used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from airflow_delivery.canary.classifier import MetricClassification
from airflow_delivery.canary.preprocess import SampleStats
from airflow_delivery.canary.scorer import ScoreResult


def _num(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:.4g}"


def _change(control: SampleStats, experiment: SampleStats) -> str:
    text = f"experiment mean {_num(experiment.mean)} vs control {_num(control.mean)}"
    if control.mean != 0 and math.isfinite(control.mean) and math.isfinite(experiment.mean):
        text += f" ({(experiment.mean / control.mean - 1) * 100:+.1f}%)"
    return text


def _interval(s: Mapping[str, Any]) -> str:
    level = f"{s['confidenceLevel'] * 100:g}%"
    return f"{level} CI of the shift [{_num(s['lowerConfidenceBound'])}, {_num(s['upperConfidenceBound'])}]"


def _band(s: Mapping[str, Any]) -> str:
    share = f"{s['tolerance'] * 100:g}%"
    return f"±{_num(s['upperToleranceBound'])} ({share} of |estimate| {_num(abs(s['estimate']))})"


def _effect_gate(s: Mapping[str, Any], increase: bool) -> str:
    measure = "mean ratio" if s["effectSizeMeasure"] == "meanRatio" else "CLES"
    key = "allowedIncrease" if increase else "allowedDecrease"
    relation = "below" if increase else "above"
    return f"the {measure} {_num(s['effectSize'])} is {relation} {key} {_num(s[key])}"


def _mann_whitney(result: MetricClassification, s: Mapping[str, Any], change: str) -> str:
    ci, band = _interval(s), _band(s)
    label = result.classification
    if label in ("High", "Low"):
        side = "above" if label == "High" else "below"
        text = f"{label}: the {ci} lies entirely {side} the tolerance band {band}; {change}"
        if result.critical:
            text += "; critical metric, so the canary fails"
        return text
    above = s["lowerConfidenceBound"] > s["upperToleranceBound"]
    below = s["upperConfidenceBound"] < s["lowerToleranceBound"]
    if above or below:
        increase = above
        if s["direction"] not in (("increase", "either") if increase else ("decrease", "either")):
            moved = "higher" if increase else "lower"
            direction = s["direction"]
            return f"Pass: significantly {moved} ({ci}) but direction is '{direction}'; {change}"
        return f"Pass: the shift is significant ({ci}) but {_effect_gate(s, increase)}; {change}"
    return f"Pass: the {ci} reaches into the tolerance band {band}; {change}"


def explain_metric(
    name: str,
    result: MetricClassification,
    control: SampleStats,
    experiment: SampleStats,
    *,
    muted: bool = False,
) -> str:
    """Why ``name`` got its label, in one line."""
    s = result.statistics
    change = _change(control, experiment)
    decided_by = s.get("decidedBy")
    if decided_by == "nodata":
        empty = " and ".join(
            side for side, st in (("experiment", experiment), ("control", control)) if st.count == 0
        )
        if result.classification == "Pass":
            text = f"Pass: no {empty} data, and nanStrategy 'replace' counts missing data as a pass"
        elif result.classification == "NodataFailMetric":
            text = (
                f"NodataFailMetric: no {empty} data and the metric has mustHaveData, so it counts as failed"
            )
        else:
            text = f"Nodata: no {empty} data after preprocessing"
            if result.critical:
                text += "; critical metric, so the canary fails"
    elif decided_by == "identical":
        text = "Pass: experiment and control samples are identical"
    elif decided_by == "singleValue":
        text = f"Pass: every value on both sides equals {_num(experiment.min)}"
    elif decided_by == "error":
        text = f"Error: the comparison failed ({s.get('error', 'unknown error')}); the metric is not scored"
    else:
        text = _mann_whitney(result, s, change)
    if muted:
        text += " (muted: reported, not scored)"
    return f"{name}: {text}"


def _group_score(value: float, no_data: bool) -> str:
    return "no data (counts as 100)" if no_data else f"{value:.4g}"


def explain_score(score: ScoreResult, classification: str, pass_threshold: float, marginal: float) -> str:
    """Why the canary got its summary score and label, in one line."""
    thresholds = f"pass >= {pass_threshold:g}, marginal >= {marginal:g}"
    if score.reason:
        return f"{classification} ({score.summary_score:g}): {score.reason.removeprefix('Canary Failed: ')}"
    parts = [
        f"{g.name} {_group_score(g.score, g.no_data)} x {score.weights[g.name]:g}%"
        for g in score.group_scores
    ]
    groups = "; ".join(parts) if parts else "no scored groups"
    return f"{classification} ({score.summary_score:g}; {thresholds}): {groups}"
