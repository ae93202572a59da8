"""Per-side preprocessing: NaN strategies, IQR outlier removal (R-7 percentiles), descriptive stats."""

from __future__ import annotations

import math

import numpy as np
import pytest
from airflow_delivery.canary.models import MetricAnalysisConfig, OutlierConfig
from airflow_delivery.canary.preprocess import (
    commons_mean,
    describe,
    handle_nans,
    iqr_fences,
    percentile_r7,
    remove_outliers,
    transform,
)


def test_remove_drops_nan_and_keeps_infinity():
    out = handle_nans(np.array([1.0, np.nan, np.inf, 2.0]), "remove")
    assert out.tolist() == [1.0, math.inf, 2.0]


def test_replace_turns_nan_into_zero():
    assert handle_nans(np.array([np.nan, 3.0, np.nan]), "replace").tolist() == [0.0, 3.0, 0.0]


@pytest.mark.parametrize("p", [1, 25, 50, 75, 99])
def test_percentile_r7_matches_numpy_linear(p):
    data = np.sort(np.random.default_rng(p).normal(0, 1, 37))
    assert percentile_r7(data, p) == pytest.approx(np.percentile(data, p, method="linear"), abs=1e-12)


def test_percentile_edge_cases():
    assert math.isnan(percentile_r7(np.array([]), 50))
    assert percentile_r7(np.array([4.0]), 99) == 4.0
    assert percentile_r7(np.array([1.0, 2.0]), 100) == 2.0


def test_iqr_fences_hand_worked():
    # 1..10 plus 100 (11 points, R-7): p25=3.5, p75=8.5, IQR=5 -> IQR fences [-11.5, 23.5];
    # p1 = 1.1 does not widen the lower fence, p99 = 10 + 0.9*90 = 91 widens the upper one; 100 > 91 goes.
    data = np.array([*range(1, 11), 100.0])
    lower, upper = iqr_fences(data, 3.0)
    assert lower == -11.5
    assert upper == pytest.approx(91.0)
    assert remove_outliers(data, 3.0).tolist() == [float(v) for v in range(1, 11)]


def test_outlier_fences_widen_to_the_1st_and_99th_percentile():
    # A tiny IQR (all 5s) but spread tails: the 1st/99th percentiles keep the near tails (reduceSensitivity).
    data = np.array([0.0] + [5.0] * 200 + [10.0])
    lower, upper = iqr_fences(data, 3.0)
    assert lower == pytest.approx(np.percentile(data, 1))
    assert upper == pytest.approx(np.percentile(data, 99))
    assert remove_outliers(data, 3.0).tolist() == [5.0] * 200


def test_outlier_boundary_is_strict():
    # 0..100 with factor 0: IQR fences [25, 75] widen to the 1st/99th percentiles, exactly 1 and 99.
    data = np.arange(101, dtype=float)
    assert iqr_fences(data, 0.0) == (1.0, 99.0)
    kept = remove_outliers(data, 0.0)
    assert kept.tolist() == [float(v) for v in range(1, 100)]  # points on a fence stay


def test_transform_applies_nan_strategy_then_outliers_only_when_asked():
    values = np.array([np.nan, *range(1, 11), 1000.0])
    keep = MetricAnalysisConfig()
    assert transform(values, keep).size == 11
    remove = MetricAnalysisConfig(
        nan_strategy="replace", outliers=OutlierConfig(strategy="remove", factor=3.0)
    )
    assert transform(values, remove).tolist() == [0.0, *[float(v) for v in range(1, 11)]]


def test_describe_uses_sample_std_and_zero_for_empty():
    stats = describe(np.array([1.0, 2.0, 3.0, 4.0]))
    assert stats.to_dict() == {
        "count": 4,
        "mean": 2.5,
        "std": pytest.approx(1.2909944487358056),
        "min": 1.0,
        "max": 4.0,
    }
    assert describe(np.array([7.0])).std == 0.0
    assert describe(np.array([])).to_dict() == {"count": 0, "mean": 0.0, "std": 0.0, "min": 0.0, "max": 0.0}


def test_commons_mean_corrects_rounding():
    values = np.full(10, 0.1)
    assert commons_mean(values) == pytest.approx(0.1, abs=1e-17)
