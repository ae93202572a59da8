"""Live canary metrics for the fault tests: an exporter Prometheus scrapes, and the stage settings.

The canary stage runs in real time here (the faults hit it while it waits for a window), so its
metrics cannot be backfilled: :class:`LiveCanaryExporter` serves fresh samples of the canary
scenario's metrics (``tests.integration.canary.scenarios``: latency, cpu, memory; two baseline pods,
one canary pod; a shared Gaussian load, 5 % spread, times 1 % noise per pod) on every scrape. From
the moment given to :meth:`regress` on, the canary of a case doubles every metric, so a late
interval fails on data of its own.

Shared by the DAG file (``dags/fault_canaries.py``) and the tests, so both use the same settings.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from tests.fixtures.prometheus import MetricsExporter
from tests.integration.canary.scenarios import (
    BASELINE_PODS,
    CANARY_PODS,
    METRICS,
    NAMESPACE,
    canary_config,
    scope,
)

#: One judged interval; above the stage's default ``min_deferral`` (15 s), so every interval is a
#: deferral of its own and a fault can hit the trigger while it sleeps.
INTERVAL = timedelta(seconds=20)
#: Wait after each window for the last scrape to land.
SETTLE = timedelta(seconds=1)
#: Query step (seconds): one point per scrape, about 20 per window and side.
STEP = 1

RESTART_DAG = "fault_canary_triggerer_restart"
RESTART_CASE = "restart"
RESTART_CONN_ID = "fault_prometheus"
RESTART_INTERVALS = 4

OUTAGE_DAG = "fault_canary_prometheus_down"
OUTAGE_CASE = "steady"
OUTAGE_CONN_ID = "fault_prometheus_outage"
OUTAGE_INTERVALS = 3

CASES = (RESTART_CASE, OUTAGE_CASE)


def live_scope(case: str) -> dict[str, Any]:
    return {**scope(case), "step": STEP}


def live_config(name: str) -> dict[str, Any]:
    return canary_config(name)


class LiveCanaryExporter(MetricsExporter):
    """``/metrics`` with a new Gaussian sample per pod and metric on every scrape."""

    def __init__(self, cases: tuple[str, ...] = CASES, seed: int = 7) -> None:
        self.cases = cases
        self._regress_from: dict[str, float] = {}
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        super().__init__()

    def regress(self, case: str, at: datetime) -> None:
        """From ``at`` on, the canary of ``case`` is twice as slow, busy and big as the baseline."""
        self._regress_from[case] = at.timestamp()

    def exposition(self) -> str:
        now = time.time()
        lines = []
        with self._rng_lock:
            for metric, mean in METRICS.items():
                for case in self.cases:
                    regressed = now >= self._regress_from.get(case, float("inf"))
                    # A load level shared by every pod (5 % spread) plus 1 % noise per pod: baseline and
                    # canary move together as under real traffic, so a healthy canary differs from its
                    # baseline by that noise only and its verdict does not depend on luck.
                    load = self._rng.gauss(mean, mean * 0.05)
                    for version, pods in (("baseline", BASELINE_PODS), ("canary", CANARY_PODS)):
                        factor = 2.0 if regressed and version == "canary" else 1.0
                        for pod in pods:
                            value = load * self._rng.gauss(1.0, 0.01) * factor
                            labels = f'case="{case}",namespace="{NAMESPACE}",pod="{pod}",version="{version}"'
                            lines.append(f"{metric}{{{labels}}} {value!r}")
        return "\n".join(lines) + "\n"
