"""Per-side preprocessing and descriptive statistics, as Kayenta's ``transformMetric`` and ``summary``.

Each side (control, experiment) is transformed on its own: NaN handling first (remove, or replace by
0.0), then optional IQR outlier removal. Percentiles and means follow Apache Commons Math (R-7
percentiles, the corrected two-pass mean), the library Kayenta uses, so the numbers match Kayenta's
to the last bit rather than "nearly".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from airflow_delivery.canary.models import MetricAnalysisConfig, NanStrategy


def handle_nans(values: np.ndarray, strategy: NanStrategy) -> np.ndarray:
    """Remove NaN points, or replace them by 0.0. Infinities pass through, as in Kayenta."""
    nan = np.isnan(values)
    if not nan.any():
        return values
    if strategy == "replace":
        return np.where(nan, 0.0, values)
    return values[~nan]


def percentile_r7(sorted_values: np.ndarray, p: float) -> float:
    """Apache Commons ``Percentile`` with ``EstimationType.R_7`` (``p`` in (0, 100]) on sorted data."""
    n = sorted_values.size
    if n == 0:
        return math.nan
    if n == 1:
        return float(sorted_values[0])
    quantile = p / 100
    pos = float(n) if quantile == 1.0 else 1 + (n - 1) * quantile
    if pos < 1:
        return float(sorted_values[0])
    if pos >= n:
        return float(sorted_values[n - 1])
    fpos = math.floor(pos)
    lower = float(sorted_values[int(fpos) - 1])
    upper = float(sorted_values[int(fpos)])
    return lower + (pos - fpos) * (upper - lower)


def iqr_fences(values: np.ndarray, factor: float) -> tuple[float, float]:
    """Kayenta's ``IQRDetector(factor, reduceSensitivity=true)``: IQR fences widened to the 1st/99th pct."""
    data = np.sort(values)
    p25, p75 = percentile_r7(data, 25), percentile_r7(data, 75)
    iqr = p75 - p25
    lower = min(percentile_r7(data, 1), p25 - factor * iqr)
    upper = max(percentile_r7(data, 99), p75 + factor * iqr)
    return lower, upper


def remove_outliers(values: np.ndarray, factor: float) -> np.ndarray:
    """Drop points strictly outside the IQR fences."""
    if values.size == 0:
        return values
    lower, upper = iqr_fences(values, factor)
    keep = (values >= lower) & (values <= upper)
    return values if keep.all() else values[keep]


def transform(values: np.ndarray, analysis: MetricAnalysisConfig) -> np.ndarray:
    """``handleOutliers(handleNaNs(values))`` for one side of a metric."""
    out = handle_nans(values, analysis.nan_strategy)
    if analysis.outliers.strategy == "remove":
        out = remove_outliers(out, analysis.outliers.factor)
    return out


def _sequential_sum(values: np.ndarray) -> float:
    """Left-to-right sum (commons-math ``Sum``); numpy's ``sum`` is pairwise and rounds differently."""
    return float(np.add.accumulate(values)[-1])


def commons_mean(values: np.ndarray) -> float:
    """commons-math ``Mean``: ``sum/n`` plus the mean residual, a second pass that cancels rounding."""
    n = float(values.size)
    xbar = _sequential_sum(values) / n
    return xbar + _sequential_sum(values - xbar) / n


def commons_std(values: np.ndarray, mean: float) -> float:
    """Square root of commons-math's bias-corrected two-pass ``Variance`` (0 for one point)."""
    if values.size == 1:
        return 0.0
    dev = values - mean
    n = float(values.size)
    accum2 = _sequential_sum(dev)
    variance = (_sequential_sum(dev * dev) - accum2 * accum2 / n) / (n - 1.0)
    return math.sqrt(variance)


@dataclass(frozen=True)
class SampleStats:
    """``experimentMetadata.stats`` / ``controlMetadata.stats``: all zero for an empty side."""

    count: int
    mean: float
    std: float
    min: float
    max: float

    def to_dict(self) -> dict[str, float | int]:
        return {"count": self.count, "mean": self.mean, "std": self.std, "min": self.min, "max": self.max}


def describe(values: np.ndarray) -> SampleStats:
    if values.size == 0:
        return SampleStats(count=0, mean=0.0, std=0.0, min=0.0, max=0.0)
    with np.errstate(invalid="ignore", over="ignore"):  # infinities give NaN statistics, as in Kayenta
        mean = commons_mean(values)
        std = commons_std(values, mean)
    return SampleStats(
        count=int(values.size), mean=mean, std=std, min=float(values.min()), max=float(values.max())
    )
