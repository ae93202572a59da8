"""The straightforward port of Kayenta's Mann-Whitney interval: re-rank the pooled sample at every step.

This is what ``MannWhitney.wilcoxonDiff`` does (``NaturalRanking(MAXIMAL, AVERAGE)`` on
``concat(x - mu, y)``, tie groups by equal rank). It is slow on purpose and exists so that tests and
``bench/judge.py`` can prove the fast implementation in :mod:`~airflow_delivery.canary.mannwhitney`
gives identical numbers; production code never calls it.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from airflow_delivery.canary.mannwhitney import (
    MannWhitneyResult,
    _check_samples,
    solve_interval,
    standardised_statistic,
)


def wilcoxon_diff(mu: float, zq: float, x: np.ndarray, y: np.ndarray) -> float:
    """Kayenta's ``wilcoxonDiff(mu, quantile, x, y)``, literally."""
    nx, ny = float(x.size), float(y.size)
    pooled = np.concatenate((x - mu, y))
    pooled[np.isnan(pooled)] = np.inf  # NaNStrategy.MAXIMAL
    ranks = rankdata(pooled, method="average")
    _, tie_sizes = np.unique(ranks, return_counts=True)
    tie_sum = float((tie_sizes.astype(float) ** 3 - tie_sizes).sum())
    dz = float(ranks[: x.size].sum()) - nx * (nx + 1) / 2 - nx * ny / 2
    return standardised_statistic(dz, tie_sum, nx, ny) - zq


def reference_confidence_interval(
    experiment: np.ndarray, control: np.ndarray, confidence_level: float
) -> MannWhitneyResult:
    """Same contract as :func:`airflow_delivery.canary.mannwhitney.confidence_interval`, no shortcuts."""
    x = np.asarray(experiment, dtype=float)
    y = np.asarray(control, dtype=float)
    _check_samples(x, y)
    mu_min = float(x.min()) - float(y.max())
    mu_max = float(x.max()) - float(y.min())
    return solve_interval(lambda mu: wilcoxon_diff(mu, 0.0, x, y), mu_min, mu_max, confidence_level)
