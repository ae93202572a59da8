"""The Mann-Whitney interval: Kayenta's own vectors, zeroin, an independent brute-force cross-check,
and bit-for-bit equality of the fast implementation with the straightforward re-ranking port.

Aspects: Kayenta/R tie-out vectors (ties, zero-heavy data where lower > upper); endpoint shortcuts;
all-tied and non-finite input errors; the estimate against the exact Hodges-Lehmann median of pairwise
differences; interval ends as sign changes of a statistic computed from pairwise comparisons; fast ==
reference on random continuous, rounded, zero-heavy, unequal-size and rounding-collision samples.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from airflow_delivery.canary.mannwhitney import (
    MannWhitneyError,
    confidence_interval,
    z_quantile,
    zeroin,
)
from airflow_delivery.canary.reference import reference_confidence_interval, wilcoxon_diff

from tests.unit.canary import kayenta_vectors as kv

E = 1e-6


@pytest.mark.parametrize(
    "vector", [kv.TIE_OUT, kv.LARGE, kv.INTERMEDIATE], ids=["tie-out", "large", "intermediate"]
)
def test_kayenta_vectors_interval(vector):
    experiment, control, level, lower, upper, estimate = vector
    result = confidence_interval(np.array(experiment), np.array(control), level)
    assert result.lower == pytest.approx(lower, abs=E)
    assert result.upper == pytest.approx(upper, abs=E)
    # Kayenta's suite compares the R estimate with 1e-4 (R's uniroot differs from the Java port there);
    # the "intermediate" vector holds Kayenta's own numbers and matches to 1e-6.
    tolerance = E if vector is kv.INTERMEDIATE else 1e-4
    assert result.estimate == pytest.approx(estimate, abs=tolerance)


def test_intermediate_values_pin_the_endpoints_and_lower_above_upper():
    x, y = np.array(kv.INTERMEDIATE_X), np.array(kv.INTERMEDIATE_Y)
    ep = kv.INTERMEDIATE_ENDPOINTS
    mu_min, mu_max = x.min() - y.max(), x.max() - y.min()
    assert mu_min == pytest.approx(ep["mu_min"], abs=E)
    assert mu_max == pytest.approx(ep["mu_max"], abs=E)
    zq = -z_quantile(0.95)
    assert zq == pytest.approx(ep["zq_lower"], abs=E)
    assert wilcoxon_diff(mu_min, zq, x, y) == pytest.approx(ep["f_lower_1"], abs=E)
    assert wilcoxon_diff(mu_max, zq, x, y) == pytest.approx(ep["f_upper_1"], abs=E)
    assert wilcoxon_diff(mu_min, -zq, x, y) == pytest.approx(ep["f_lower_2"], abs=E)
    assert wilcoxon_diff(mu_max, -zq, x, y) == pytest.approx(ep["f_upper_2"], abs=E)
    result = confidence_interval(x, y, 0.95)
    assert result.lower > result.upper  # the coarse 1e-4 root tolerance on zero-heavy data


def test_z_quantile_matches_the_normal_quantile():
    assert z_quantile(0.98) == pytest.approx(-2.3263478740408408, abs=1e-12)
    assert z_quantile(0.95) == pytest.approx(-1.959963984540054, abs=1e-12)


def test_zeroin_returns_an_endpoint_whose_value_is_zero_within_one_ulp():
    calls = []
    assert zeroin(1.0, 2.0, 5e-324, -1.0, lambda v: calls.append(v) or 0.0) == 1.0
    assert zeroin(1.0, 2.0, 1.0, -0.0, lambda v: calls.append(v) or 0.0) == 2.0
    assert calls == []


def test_zeroin_stops_at_the_absolute_tolerance_not_at_the_exact_root():
    root = zeroin(0.0, 2.0, -2.0, 2.0, lambda v: v * v - 2.0)
    assert abs(root - math.sqrt(2)) < 1e-4
    # A step function has no exact root: zeroin settles within tol of the jump.
    jump = zeroin(0.0, 10.0, 1.0, -1.0, lambda v: 1.0 if v < 3.3 else -1.0)
    assert abs(jump - 3.3) <= 1e-4


def test_zeroin_returns_the_last_iterate_when_it_does_not_converge():
    evaluations = []

    def never_brackets(v: float) -> float:
        evaluations.append(v)
        return float("nan")

    result = zeroin(0.0, 1.0, 1.0, -1.0, never_brackets)
    assert math.isfinite(result) or math.isnan(result)
    assert len(evaluations) <= 1001


def test_all_tied_observations_raise():
    with pytest.raises(MannWhitneyError, match="all observations are tied"):
        confidence_interval(np.array([2.0, 2.0]), np.array([2.0, 2.0, 2.0]), 0.98)


@pytest.mark.parametrize("bad", [np.array([]), np.array([1.0, np.inf]), np.array([np.nan, 1.0])])
def test_empty_or_non_finite_samples_raise(bad):
    with pytest.raises(MannWhitneyError):
        confidence_interval(bad, np.array([1.0, 2.0, 3.0]), 0.98)


def test_endpoint_shortcut_when_the_samples_do_not_overlap():
    # x entirely above y: at mu_min every shifted x still ties or exceeds, so the CI hits its ends.
    x, y = np.array([10.0, 11.0, 12.0]), np.array([1.0, 2.0, 3.0])
    result = confidence_interval(x, y, 0.98)
    assert result.lower == x.min() - y.max()
    assert result.upper == x.max() - y.min()
    assert 7.0 <= result.estimate <= 11.0


# ---------------------------------------------------------------------------------------------
# Independent cross-check: pairwise differences, no ranking code involved
# ---------------------------------------------------------------------------------------------


def _brute_statistic(mu: float, x: np.ndarray, y: np.ndarray) -> float:
    """g(mu) from all pairwise comparisons and the pooled tie structure (np.unique), no ranks."""
    xp = x - mu
    greater = (xp[:, None] > y[None, :]).sum()
    equal = (xp[:, None] == y[None, :]).sum()
    dz = greater + 0.5 * equal - x.size * y.size / 2
    _, sizes = np.unique(np.concatenate((xp, y)), return_counts=True)
    n = x.size + y.size
    sigma = math.sqrt(x.size * y.size / 12 * ((n + 1) - float((sizes**3 - sizes).sum()) / (n * (n - 1))))
    return (dz - math.copysign(0.5, dz) * (dz != 0)) / sigma


def _small_samples(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    nx, ny = rng.integers(5, 40, size=2)
    x = rng.normal(10 + rng.normal(0, 2), 3, nx)
    y = rng.normal(10, 3, ny)
    if seed % 3 == 0:  # ties within and across samples
        x, y = np.round(x), np.round(y)
    return x, y


@pytest.mark.parametrize("seed", range(12))
def test_estimate_is_near_the_exact_hodges_lehmann_estimate(seed):
    x, y = _small_samples(seed)
    result = confidence_interval(x, y, 0.95)
    diffs = np.sort((x[:, None] - y[None, :]).ravel())
    n = diffs.size
    hodges_lehmann = float(np.median(diffs))
    # The root of the continuity-corrected statistic lies between the middle pairwise differences.
    low, high = diffs[max((n - 1) // 2 - 1, 0)], diffs[min(n // 2 + 1, n - 1)]
    assert low - 2e-4 <= result.estimate <= high + 2e-4
    assert low <= hodges_lehmann <= high


@pytest.mark.parametrize("seed", range(12))
def test_interval_ends_are_sign_changes_of_the_brute_force_statistic(seed):
    x, y = _small_samples(seed)
    level = 0.9
    z = -z_quantile(level)
    result = confidence_interval(x, y, level)
    mu_min, mu_max = x.min() - y.max(), x.max() - y.min()
    for end, zq in ((result.lower, z), (result.upper, -z)):
        if end in (mu_min, mu_max):
            continue
        assert _brute_statistic(end - 1.5e-4, x, y) - zq >= 0
        assert _brute_statistic(end + 1.5e-4, x, y) - zq <= 0
    assert result.lower <= result.estimate + 1e-4 <= result.upper + 2e-4


# ---------------------------------------------------------------------------------------------
# Fast implementation == straightforward re-ranking port, bit for bit
# ---------------------------------------------------------------------------------------------


def _random_case(rng: np.random.Generator, kind: int) -> tuple[np.ndarray, np.ndarray]:
    nx, ny = int(rng.integers(2, 400)), int(rng.integers(2, 400))
    shift = float(rng.choice([0.0, 0.02, 0.1, -0.1]))
    if kind == 0:
        return rng.lognormal(3 + shift, 0.4, nx), rng.lognormal(3, 0.4, ny)
    if kind == 1:
        return np.round(rng.normal(20 + 20 * shift, 3, nx), 1), np.round(rng.normal(20, 3, ny), 1)
    if kind == 2:
        zeros = 0.8 - shift
        return (
            np.where(rng.random(nx) < zeros, 0.0, rng.exponential(1, nx)),
            np.where(rng.random(ny) < 0.8, 0.0, rng.exponential(1, ny)),
        )
    return rng.integers(0, 6, nx).astype(float), rng.integers(0, 6, ny).astype(float)


@pytest.mark.parametrize("kind", range(4), ids=["continuous", "rounded", "zero-heavy", "small-integers"])
def test_fast_equals_reference_on_random_samples(kind):
    rng = np.random.default_rng(100 + kind)
    for _ in range(15):
        x, y = _random_case(rng, kind)
        level = float(rng.choice([0.9, 0.95, 0.98]))
        try:
            expected = reference_confidence_interval(x, y, level)
        except MannWhitneyError:
            with pytest.raises(MannWhitneyError):
                confidence_interval(x, y, level)
            continue
        assert confidence_interval(x, y, level) == expected


def test_fast_equals_reference_when_shifting_merges_distinct_values_by_rounding():
    # Experiment values one ulp apart: x - mu rounds some of them together, so tie groups change with mu.
    rng = np.random.default_rng(7)
    base = 1e6
    x = base + np.arange(30) * math.ulp(base) + np.repeat([0.0, 0.5], 15)
    y = base + rng.integers(0, 40, 25) * math.ulp(base) + 0.25
    expected = reference_confidence_interval(x, y, 0.95)
    assert confidence_interval(x, y, 0.95) == expected


def test_fast_equals_reference_on_large_samples():
    rng = np.random.default_rng(11)
    x, y = rng.lognormal(5, 0.3, 3000), np.round(rng.lognormal(5.02, 0.3, 2500), 2)
    assert confidence_interval(x, y, 0.98) == reference_confidence_interval(x, y, 0.98)
