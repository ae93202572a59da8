"""Classify one metric: Kayenta's ``MannWhitneyClassifier.classify`` with its critical escalation.

First match wins: an empty side (Nodata / NodataFailMetric, or Pass under NaN replacement), identical
samples, a single value overall, then the Mann-Whitney comparison. A metric is High when the whole
confidence interval of the shift lies above ``+tolerance*|estimate|`` and the effect size reaches
``allowedIncrease`` (Low mirrors it); ``deviation`` (the reported ratio) does not drive the decision.
Besides Kayenta's label/reason/ratio/critical we keep every number the decision used
(``statistics``), because "why did this pass?" is the question users ask most.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np

from airflow_delivery.canary.mannwhitney import IntervalFunction, confidence_interval
from airflow_delivery.canary.models import MetricAnalysisConfig
from airflow_delivery.canary.preprocess import commons_mean

Label = Literal["Pass", "High", "Low", "Nodata", "NodataFailMetric", "Error"]
LABELS: Final[tuple[Label, ...]] = ("Pass", "High", "Low", "Nodata", "NodataFailMetric", "Error")
NOISE_SCALE: Final = 1e-5  # Kayenta's addGaussianNoise: sd = constant * 1e-5
ERROR_REASON: Final = "Metric Classification Failed"


@dataclass(frozen=True)
class MetricClassification:
    """Kayenta's classification tuple plus the statistics behind it.

    ``deviation`` is Kayenta's ``resultMetadata.ratio`` (None for Error, which has no ratio).
    """

    classification: Label
    reason: str | None
    deviation: float | None
    critical: bool
    statistics: dict[str, Any] = field(default_factory=dict)


def mean_ratio(control: np.ndarray, experiment: np.ndarray) -> float:
    """``mean(experiment) / mean(control)``; NaN when either mean is 0 (Kayenta PR #527)."""
    with np.errstate(invalid="ignore", over="ignore"):
        control_mean, experiment_mean = commons_mean(control), commons_mean(experiment)
    if control_mean == 0.0 or experiment_mean == 0.0:
        return math.nan
    return experiment_mean / control_mean


def cles(control: np.ndarray, experiment: np.ndarray) -> float:
    """Common-language effect size (Vargha-Delaney A): P(experiment > control) + P(tie)/2.

    ``(2*R1 - m(m+1)) / (2nm)`` with ``R1`` the experiment's rank sum in the pooled sample, computed
    from counts (rank sums are exact half-integers, so this equals re-ranking bit for bit).
    """
    m, n = experiment.size, control.size
    c = np.sort(control)
    below = np.searchsorted(c, experiment, side="left")
    equal = np.searchsorted(c, experiment, side="right") - below
    rank_sum = (m * (m + 1) + 2 * int(below.sum()) + int(equal.sum())) / 2
    return (2 * rank_sum - m * (m + 1)) / (2.0 * n * m)


def _add_noise(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Kayenta's tie breaker for a constant side: ``x + N(0, (x*1e-5)^2)``; a zero side stays zero."""
    return values + rng.standard_normal(values.size) * (float(values[0]) * NOISE_SCALE)


def _settings(analysis: MetricAnalysisConfig, tolerance: float, confidence_level: float) -> dict[str, Any]:
    effect = analysis.effect_size
    return {
        "direction": analysis.direction,
        "tolerance": tolerance,
        "confidenceLevel": confidence_level,
        "effectSizeMeasure": effect.measure,
        "allowedIncrease": effect.allowed_increase,
        "allowedDecrease": effect.allowed_decrease,
        "criticalIncrease": effect.critical_increase,
        "criticalDecrease": effect.critical_decrease,
    }


def _short_circuit(
    name: str,
    control: np.ndarray,
    experiment: np.ndarray,
    analysis: MetricAnalysisConfig,
    stats: dict[str, Any],
) -> MetricClassification | None:
    """Steps 1-3: no data, identical samples, one value overall."""
    if experiment.size == 0 or control.size == 0:
        stats["decidedBy"] = "nodata"
        if analysis.nan_strategy == "replace":
            # Kayenta PR #339: with NaN replacement, no data means pass (mustHaveData is ignored).
            return MetricClassification("Pass", None, 1.0, False, stats)
        reason = f"Missing data for {name}"
        if analysis.must_have_data and not analysis.critical:
            return MetricClassification("NodataFailMetric", reason, 1.0, False, stats)
        return MetricClassification("Nodata", reason, 1.0, analysis.critical, stats)
    if experiment.size == control.size and np.array_equal(np.sort(experiment), np.sort(control)):
        stats["decidedBy"] = "identical"
        return MetricClassification("Pass", "The Canary and Baseline data are identical", 1.0, False, stats)
    first = experiment[0]
    if (experiment == first).all() and (control == first).all():
        stats["decidedBy"] = "singleValue"
        return MetricClassification("Pass", None, 1.0, False, stats)
    return None


def classify(
    name: str,
    control: np.ndarray,
    experiment: np.ndarray,
    analysis: MetricAnalysisConfig,
    *,
    tolerance: float,
    confidence_level: float,
    noise_seed: Sequence[int] = (0,),
    interval: IntervalFunction = confidence_interval,
) -> MetricClassification:
    """Classify preprocessed samples; a failure inside becomes an ``Error`` result, never an exception.

    ``noise_seed`` seeds the Gaussian noise added to constant samples (Kayenta's is unseeded), so a
    judgment can be replayed exactly.
    """
    stats = _settings(analysis, tolerance, confidence_level)
    short = _short_circuit(name, control, experiment, analysis, stats)
    if short is not None:
        return short
    try:
        return _compare(
            name, control, experiment, analysis, tolerance, confidence_level, noise_seed, interval, stats
        )
    except (ArithmeticError, ValueError, RuntimeError) as exc:
        # Kayenta catches any RuntimeException here: the metric fails, the judgment goes on.
        stats["decidedBy"] = "error"
        stats["error"] = str(exc)
        return MetricClassification("Error", ERROR_REASON, None, False, stats)


def _compare(
    name: str,
    control: np.ndarray,
    experiment: np.ndarray,
    analysis: MetricAnalysisConfig,
    tolerance: float,
    confidence_level: float,
    noise_seed: Sequence[int],
    interval: IntervalFunction,
    stats: dict[str, Any],
) -> MetricClassification:
    """Step 4 (Mann-Whitney) and step 5 (critical escalation)."""
    noise = bool((experiment == experiment[0]).all() and (control == control[0]).all())
    if noise:
        rng = np.random.default_rng(list(noise_seed))
        experiment, control = _add_noise(experiment, rng), _add_noise(control, rng)
    result = interval(experiment, control, confidence_level)
    deviation = mean_ratio(control, experiment)
    effect = analysis.effect_size
    effect_size = cles(control, experiment) if effect.measure == "cles" else deviation
    bound = tolerance * abs(result.estimate)
    lower_bound, upper_bound = -bound, bound
    no_effect = math.isnan(effect_size)
    is_high = (
        analysis.direction in ("increase", "either")
        and result.lower > upper_bound
        and (no_effect or effect_size >= effect.allowed_increase)
    )
    is_low = (
        analysis.direction in ("decrease", "either")
        and result.upper < lower_bound
        and (no_effect or effect_size <= effect.allowed_decrease)
    )
    stats.update(
        decidedBy="mannWhitney",
        lowerConfidenceBound=result.lower,
        upperConfidenceBound=result.upper,
        estimate=result.estimate,
        lowerToleranceBound=lower_bound,
        upperToleranceBound=upper_bound,
        effectSize=effect_size,
        noiseAdded=noise,
    )
    if is_high:
        if analysis.critical and (no_effect or effect_size >= effect.critical_increase):
            return MetricClassification(
                "High", f"The metric {name} was classified as High (Critical)", deviation, True, stats
            )
        return MetricClassification("High", f"{name} was classified as High", deviation, False, stats)
    if is_low:
        if analysis.critical and (no_effect or effect_size <= effect.critical_decrease):
            return MetricClassification(
                "Low", f"The metric {name} was classified as Low (Critical)", deviation, True, stats
            )
        return MetricClassification("Low", f"{name} was classified as Low", deviation, False, stats)
    return MetricClassification("Pass", None, deviation, False, stats)
