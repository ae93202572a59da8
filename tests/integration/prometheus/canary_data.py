"""Backfilled canary data: baseline vs canary pods of one app, for several scenarios (``case`` label).

Times are fixed (2025-01-01T00:00Z) so every run sees the same samples. Samples are 30 s apart and
offset by 15 s from the minute grid, as a scrape would be; the analysis window is the 30 minutes after
T0 at a 60 s step, so a range query returns 31 points per series.

Scenarios:
* ``healthy``: canary latency drawn from the same distribution as baseline (Pass).
* ``regressed``: canary latency doubled (Fail).
* ``gaps``: baseline complete; canary samples only from 10m15s to 19m45s, so (with Prometheus' 5 min
  lookback) grid points 0..10 and 25..30 have no value.
* ``nothing`` has no series at all.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from airflow_delivery.metrics.source import MetricScope

from tests.fixtures.prometheus import BackfillSeries

T0 = datetime(2025, 1, 1, tzinfo=UTC)
WINDOW = timedelta(minutes=30)
STEP = 60
NAMESPACE = "shop"
LATENCY = "http_request_duration_seconds"
REQUESTS = "http_requests_total"

BASELINE_PODS = ("demo-baseline-7d9f-a1", "demo-baseline-7d9f-b2")
CANARY_PODS = ("demo-canary-5c8e-c3",)

GAPS_PRESENT = range(11, 25)  # grid indexes with a canary value in the ``gaps`` case


def _times(start_offset: float, end_offset: float) -> list[float]:
    t, out = T0.timestamp() + start_offset, []
    while t <= T0.timestamp() + end_offset:
        out.append(t)
        t += 30
    return out


def _latency_series(
    case: str, version: str, pod: str, mean: float, seed: int, times: list[float]
) -> BackfillSeries:
    rng = random.Random(seed)
    return BackfillSeries(
        LATENCY,
        {"case": case, "version": version, "pod": pod, "namespace": NAMESPACE, "app": "demo"},
        [(t, round(rng.gauss(mean, mean * 0.05), 6)) for t in times],
    )


def dataset() -> list[BackfillSeries]:
    full = _times(15 - 600, WINDOW.total_seconds() + 15)  # from 10 min before the window to its end
    series: list[BackfillSeries] = []
    seed = 0
    for case, canary_mean in (("healthy", 0.100), ("regressed", 0.200), ("gaps", 0.100)):
        for pod in BASELINE_PODS:
            seed += 1
            series.append(_latency_series(case, "baseline", pod, 0.100, seed, full))
        canary_times = _times(10 * 60 + 15, 19 * 60 + 45) if case == "gaps" else full
        for pod in CANARY_PODS:
            seed += 1
            series.append(_latency_series(case, "canary", pod, canary_mean, seed, canary_times))
    # A counter, so rate() queries work too: 10 req/s on every pod of the healthy case.
    for version, pods in (("baseline", BASELINE_PODS), ("canary", CANARY_PODS)):
        for pod in pods:
            series.append(
                BackfillSeries(
                    REQUESTS,
                    {"case": "healthy", "version": version, "pod": pod, "namespace": NAMESPACE},
                    [(t, 10.0 * (t - full[0])) for t in full],
                    kind="counter",
                )
            )
    return series


def scopes(
    *, control: str = "baseline", experiment: str = "canary", **extended: str
) -> tuple[MetricScope, MetricScope]:
    """Control and experiment scopes over the window; ``scope`` is the ``version`` label value."""
    common = {
        "start": T0,
        "end": T0 + WINDOW,
        "step": STEP,
        "location": NAMESPACE,
        "extended_params": extended,
    }
    return MetricScope(scope=control, **common), MetricScope(scope=experiment, **common)


def latency_metric(case: str, **query: object) -> dict[str, object]:
    """A Kayenta metric entry for the latency of one scenario (filter built from a template)."""
    return {
        "name": "latency",
        "query": {
            "type": "prometheus",
            "metricName": LATENCY,
            "customInlineTemplate": f'case="{case}",version="${{scope}}",namespace="${{location}}"',
            **query,
        },
        "groups": ["latency"],
        "analysisConfigurations": {"canary": {"direction": "increase"}},
        "scopeName": "default",
    }
