"""Kayenta's Mann-Whitney confidence interval and location estimate, exact and fast.

Kayenta (``kayenta-mannwhitney``) ports R's ``wilcox.test(x, y, conf.int=TRUE, exact=FALSE, correct=TRUE)``:
the interval ends and the estimate are roots of the continuity-corrected normal statistic of the shift
``mu`` (x = experiment, y = control), found by a port of R's ``zeroin`` with an *absolute* tolerance of
1e-4. Reproducing Kayenta's numbers to 1e-6 therefore needs the same root finder stepping through the same
iterates; :func:`zeroin` is a line-by-line port (``scipy.optimize.brentq`` stops elsewhere).

Kayenta re-ranks the pooled sample at every root-finder step (O(n log n) each). Here both samples are
sorted once; for a shift ``mu`` the statistic only needs, for each ``x - mu``, how many control values lie
below it and how many equal it, which a linear merge of the two sorted runs gives. The rank sum and tie
correction are sums of exact half-integers / integers, so the float results are bit-identical to
re-ranking (the straightforward port in :mod:`airflow_delivery.canary.reference` is kept to prove it in
tests and the benchmark).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Final

import numpy as np

ZEROIN_TOLERANCE: Final = 1e-4
ZEROIN_MAX_ITERATIONS: Final = 1000
_EPSILON: Final = 2.220446049250313e-16
_MIN_SUBNORMAL: Final = 5e-324


class MannWhitneyError(RuntimeError):
    """The interval cannot be computed (all observations tied, non-finite data, empty sample)."""


@dataclass(frozen=True)
class MannWhitneyResult:
    """Confidence interval ``[lower, upper]`` and estimate of the shift experiment - control."""

    lower: float
    upper: float
    estimate: float


IntervalFunction = Callable[[np.ndarray, np.ndarray, float], MannWhitneyResult]


def _is_zero(value: float) -> bool:
    """commons-math ``Precision.equals(value, 0)``: equal within one ulp (so +-MIN_VALUE counts as 0)."""
    return abs(value) <= _MIN_SUBNORMAL


def zeroin(ax: float, bx: float, fa: float, fb: float, f: Callable[[float], float]) -> float:
    """R's ``R_zeroin2`` as ported in Kayenta's ``BrentSolver.solve`` (tol 1e-4, 1000 iterations).

    Kept deliberately line-by-line: any reordering of the float operations changes where it stops.
    On non-convergence it returns the last iterate without error, as Kayenta does.
    """
    a, b = ax, bx
    c, fc = a, fa
    if _is_zero(fa):
        return a
    if _is_zero(fb):
        return b
    iterations = ZEROIN_MAX_ITERATIONS + 1
    while iterations > 0:
        iterations -= 1
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * _EPSILON * abs(b) + ZEROIN_TOLERANCE / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or _is_zero(fb):
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0.0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def z_quantile(confidence_level: float) -> float:
    """Lower normal quantile ``alpha/2`` (negative), as Kayenta's ``inverseCumulativeProbability``."""
    return NormalDist().inv_cdf((1.0 - confidence_level) / 2)


def standardised_statistic(dz: float, tie_sum: float, nx: float, ny: float) -> float:
    """``(dz - correction) / sigma`` with Kayenta's float operations in Kayenta's order.

    ``dz`` is ``U_x - nx*ny/2`` (a half-integer) and ``tie_sum`` is ``sum(t^3 - t)`` over tie groups.
    """
    correction = math.copysign(0.5, dz) if dz != 0 else 0.0
    sigma = math.sqrt((nx * ny / 12) * ((nx + ny + 1) - tie_sum / ((nx + ny) * (nx + ny - 1))))
    if sigma == 0:
        raise MannWhitneyError("cannot compute confidence interval when all observations are tied")
    return (dz - correction) / sigma


def solve_interval(
    statistic: Callable[[float], float], mu_min: float, mu_max: float, confidence_level: float
) -> MannWhitneyResult:
    """Kayenta's ``calculateConfidenceInterval`` given the statistic ``g(mu)``; f = g - zq."""
    z = z_quantile(confidence_level)

    def find_root(zq: float) -> float:
        f_lower = statistic(mu_min) - zq
        f_upper = statistic(mu_max) - zq
        if f_lower <= 0:
            return mu_min
        if f_upper >= 0:
            return mu_max
        return zeroin(mu_min, mu_max, f_lower, f_upper, lambda mu: statistic(mu) - zq)

    lower = find_root(-z)
    upper = find_root(z)
    zero = 0.0
    estimate = zeroin(
        mu_min, mu_max, statistic(mu_min) - zero, statistic(mu_max) - zero, lambda mu: statistic(mu) - zero
    )
    return MannWhitneyResult(lower=lower, upper=upper, estimate=estimate)


def _check_samples(experiment: np.ndarray, control: np.ndarray) -> None:
    if experiment.size == 0 or control.size == 0:
        raise MannWhitneyError("cannot compute a confidence interval with an empty sample")
    if not (np.isfinite(experiment).all() and np.isfinite(control).all()):
        raise MannWhitneyError("cannot compute a confidence interval with NaN or infinite values")


def _mixed_ties(cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """``t^3 - t`` of each tie group holding experiment values, minus its control-only part."""
    t = cx + cy
    return (t**3 - t) - (cy**3 - cy)


class _SortedShiftStatistic:
    """``g(mu)`` from samples sorted once; memoised because the three root searches share endpoints.

    Per distinct experiment value ``v`` (a group of ``cx`` equal values) the statistic needs how many
    control values are < and <= ``v - mu``. Both runs are sorted, so one stable sort of their
    concatenation is a linear merge; with the shifted experiment values first, a control value equal to
    ``x'_k`` sorts after it, and the control values before ``x'_k`` are exactly those < ``x'_k``.
    The rank sum and tie correction follow from these counts as exact half-integers / integers, and the
    comparisons are the ones a full re-rank makes, so the result is bit-identical to re-ranking.
    If rounding in ``x - mu`` could merge two distinct experiment values (values closer than a few
    ulps of ``|x| + |mu|``), tie groups are not fixed and :meth:`_full_count` recomputes them.
    (Patching counts incrementally from the nearest evaluated shift was tried: no faster, since the
    root finder's early steps change most counts and the work is dominated by per-call overhead.)
    """

    def __init__(self, experiment: np.ndarray, control: np.ndarray) -> None:
        x = np.sort(np.asarray(experiment, dtype=float))
        y = np.sort(np.asarray(control, dtype=float))
        self._x, self._y = x, y
        self._y_padded = np.append(y, math.inf)  # y_padded[k]: "the next control value" after count k
        self._nx_int = int(x.size)
        self._nxny = int(x.size) * int(y.size)
        self._nx, self._ny = float(x.size), float(y.size)
        runs = np.diff(np.flatnonzero(np.concatenate(([True], y[1:] != y[:-1], [True]))))
        self._control_ties = int((runs**3 - runs).sum())
        group_starts = np.flatnonzero(np.concatenate(([True], x[1:] != x[:-1])))
        self._ux = x[group_starts]
        self._cx = np.diff(np.append(group_starts, x.size)).astype(np.int64)
        self._unit_groups = bool(self._ux.size == x.size)
        self._group_index = np.arange(self._ux.size)
        self._experiment_ties = int((self._cx**3 - self._cx).sum())
        self._min_gap = float(np.diff(self._ux).min()) if self._ux.size > 1 else math.inf
        self._x_abs_max = max(abs(float(x[0])), abs(float(x[-1])))
        self._merge_buffer = np.concatenate((self._ux, y))  # shifted experiment values go in the head
        self._values: dict[float, float] = {}

    def __call__(self, mu: float) -> float:
        cached = self._values.get(mu)
        if cached is not None:
            return cached
        if self._min_gap > 4 * math.ulp(self._x_abs_max + abs(mu)):
            two_dz, tie_sum = self._merge_count(mu)
        else:
            two_dz, tie_sum = self._full_count(mu)
        value = standardised_statistic(two_dz / 2, float(tie_sum), self._nx, self._ny)
        self._values[mu] = value
        return value

    def _merge_count(self, mu: float) -> tuple[int, int]:
        """``(2*dz, tie_sum)`` for ``mu`` in as few numpy calls as possible.

        This is the hot loop (about 30 calls per metric) and per-call overhead rivals the work itself;
        hence the preallocated buffer and the C-level reducers instead of their Python wrappers.
        """
        buffer = self._merge_buffer
        m = self._ux.size
        np.subtract(self._ux, mu, out=buffer[:m])
        lo = (buffer.argsort(kind="stable") < m).nonzero()[0]
        lo -= self._group_index
        xp = buffer[:m]
        sum_lo = int(np.add.reduce(lo)) if self._unit_groups else int(self._cx @ lo)
        if not np.count_nonzero(self._y_padded.take(lo) == xp):
            return 2 * sum_lo - self._nxny, self._control_ties + self._experiment_ties
        # Some control value equals some shifted experiment value: count the equal ones too.
        equal = np.flatnonzero(self._y_padded.take(lo) == xp)
        hi = lo.copy()
        hi[equal] = np.searchsorted(self._y, xp.take(equal), side="right")
        cy = hi - lo
        two_dz = 2 * sum_lo + int(self._cx @ cy) - self._nxny
        return two_dz, self._control_ties + int(_mixed_ties(self._cx, cy).sum())

    def _full_count(self, mu: float) -> tuple[int, int]:
        """Re-count everything for ``mu`` (tie groups among ``x - mu`` recomputed): ``(2*dz, tie_sum)``."""
        xp = self._x - mu
        lo = np.searchsorted(self._y, xp, side="left")
        cy = np.searchsorted(self._y, xp, side="right") - lo
        two_dz = 2 * int(lo.sum()) + int(cy.sum()) - self._nxny
        starts = np.flatnonzero(np.concatenate(([True], xp[1:] != xp[:-1])))
        cx = np.diff(np.append(starts, self._nx_int))
        return two_dz, self._control_ties + int(_mixed_ties(cx, cy[starts]).sum())


def confidence_interval(
    experiment: np.ndarray, control: np.ndarray, confidence_level: float
) -> MannWhitneyResult:
    """Kayenta's ``MannWhitney.mannWhitneyUTest(experiment, control, confidenceLevel)``, fast.

    Raises :class:`MannWhitneyError` when every observation is tied or a sample is empty/non-finite.
    """
    x = np.asarray(experiment, dtype=float)
    y = np.asarray(control, dtype=float)
    _check_samples(x, y)
    mu_min = float(x.min()) - float(y.max())
    mu_max = float(x.max()) - float(y.min())
    return solve_interval(_SortedShiftStatistic(x, y), mu_min, mu_max, confidence_level)
