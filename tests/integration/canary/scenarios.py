"""Backfilled canary scenarios for the canary stage: three metrics, baseline vs canary, per ``case``.

Times are fixed (2025-02-01T00:00Z, 30 minutes) so every run sees the same samples: 30 s apart,
offset by 15 s from the minute grid as a scrape would be, from 10 minutes before the window to its
end. Every metric has two baseline pods and one canary pod; values are Gaussian with 5 % spread.

Cases (the ``case`` label, selected through ``extendedScopeParams``):

* ``healthy``   canary like baseline                           -> every interval scores 100
* ``regressed`` canary doubles latency, cpu and memory         -> 0 from the first interval
* ``marginal``  canary doubles cpu only                        -> 66.67 (2 of 3 metrics pass)
* ``late``      healthy for 10 minutes, then everything doubled -> a sliding window fails interval 2
* ``missing``   canary has no memory series at all             -> memory is Nodata
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fixtures.prometheus import BackfillSeries

T0 = datetime(2025, 2, 1, tzinfo=UTC)
LIFETIME = timedelta(minutes=30)
INTERVAL = timedelta(minutes=10)
STEP = 60
NAMESPACE = "shop"
METRICS = {"canary_latency_seconds": 0.1, "canary_cpu_seconds": 0.5, "canary_memory_bytes": 1.0e8}
BASELINE_PODS = ("web-baseline-a", "web-baseline-b")
CANARY_PODS = ("web-canary-a",)
CASES = ("healthy", "regressed", "marginal", "late", "missing")


def _times() -> list[float]:
    t, end, out = T0.timestamp() - 600 + 15, (T0 + LIFETIME).timestamp() + 15, []
    while t <= end:
        out.append(t)
        t += 30
    return out


def _factor(case: str, metric: str, ts: float) -> float:
    """How much the canary's value is multiplied by, in ``case``."""
    if case == "regressed":
        return 2.0
    if case == "marginal":
        return 2.0 if metric == "canary_cpu_seconds" else 1.0
    if case == "late":
        return 2.0 if ts >= (T0 + timedelta(minutes=10)).timestamp() else 1.0
    return 1.0


def dataset() -> list[BackfillSeries]:
    times, series, seed = _times(), [], 0
    for case in CASES:
        for metric, mean in METRICS.items():
            for version, pods in (("baseline", BASELINE_PODS), ("canary", CANARY_PODS)):
                if case == "missing" and version == "canary" and metric == "canary_memory_bytes":
                    continue
                for pod in pods:
                    seed += 1
                    rng = random.Random(seed)
                    samples = [
                        (
                            t,
                            rng.gauss(mean, mean * 0.05)
                            * (_factor(case, metric, t) if version == "canary" else 1),
                        )
                        for t in times
                    ]
                    labels = {"case": case, "version": version, "pod": pod, "namespace": NAMESPACE}
                    series.append(BackfillSeries(metric, labels, samples))
    return series


def canary_config(name: str = "service-health") -> dict[str, Any]:
    """A Kayenta canary config over the three metrics, one group, none critical."""
    return {
        "name": name,
        "judge": {"name": "NetflixACAJudge-v1.0", "judgeConfigurations": {}},
        "metrics": [
            {
                "name": metric.removeprefix("canary_"),
                "query": {
                    "type": "prometheus",
                    "metricName": metric,
                    "customInlineTemplate": 'case="${case}",version="${scope}",namespace="${location}"',
                },
                "groups": ["service"],
                "analysisConfigurations": {"canary": {"direction": "increase", "nanStrategy": "remove"}},
                "scopeName": "default",
            }
            for metric in METRICS
        ],
        "classifier": {"groupWeights": {"service": 100}},
    }


def scope(case: str) -> dict[str, Any]:
    """The Kayenta scope entry (as a canary stage takes it) for one case."""
    return {
        "scopeName": "default",
        "controlScope": "baseline",
        "controlLocation": NAMESPACE,
        "experimentScope": "canary",
        "experimentLocation": NAMESPACE,
        "step": STEP,
        "extendedScopeParams": {"case": case},
    }
