"""Benchmark the canary judge: fast Mann-Whitney vs the straightforward Kayenta port.

Run: ``python bench/judge.py``. Two workloads, both seeded:

* 100 metrics x 1,440 points per side (a day at one-minute steps);
* 10 metrics x 10,000 points per side.

Metrics mix continuous latencies, values rounded to one decimal (many ties), zero-heavy error rates and
some real regressions, so every branch of the interval code runs. The fast judge is timed end to end
(``judge()`` on plain dicts: parsing, preprocessing, statistics, classification, scoring), best of a
few runs; the straightforward port (``airflow_delivery.canary.reference``: re-rank the pooled sample at
every root-finder step, as Kayenta does) is timed once on the same input through the same pipeline.
Labels, intervals and scores must be identical.

Prints a table, then exactly one JSON line: ``{"bench": "judge", "results": {...}, "goals": {...}}``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))

from airflow_delivery.canary.judge import judge, judge_parsed
from airflow_delivery.canary.models import (
    parse_canary_config,
    parse_metric_set_pairs,
    parse_score_thresholds,
)
from airflow_delivery.canary.reference import reference_confidence_interval

FAST_REPEATS = 3
GOAL_SPEEDUP = 10.0
GOAL_JUDGMENT_SECONDS = 0.5


def _series(rng: np.random.Generator, kind: int, n: int, shift: float) -> tuple[list[float], list[float]]:
    if kind == 0:  # continuous latency, ms
        control = rng.lognormal(np.log(120), 0.25, n)
        experiment = rng.lognormal(np.log(120 * (1 + shift)), 0.25, n)
    elif kind == 1:  # rounded values: heavy ties
        control = np.round(rng.normal(50, 4, n), 1)
        experiment = np.round(rng.normal(50 * (1 + shift), 4, n), 1)
    elif kind == 2:  # zero-heavy error rate
        control = np.where(rng.random(n) < 0.8, 0.0, rng.exponential(0.02, n))
        experiment = np.where(rng.random(n) < 0.8 - 4 * shift, 0.0, rng.exponential(0.02, n))
    else:  # CPU seconds with a few NaN gaps
        control = rng.normal(0.8, 0.05, n)
        experiment = rng.normal(0.8 * (1 + shift), 0.05, n)
        control[rng.random(n) < 0.01] = np.nan
    return control.tolist(), experiment.tolist()


def workload(metrics: int, points: int, seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    groups = ["latency", "errors", "saturation", "traffic"]
    config: dict[str, Any] = {
        "name": f"bench-{metrics}x{points}",
        "metrics": [],
        "classifier": {"groupWeights": {}},
    }
    pairs = []
    for i in range(metrics):
        kind = i % 4
        shift = 0.05 if i % 5 == 0 else 0.0  # every fifth metric regresses
        config["metrics"].append(
            {
                "name": f"m{i:03d}",
                "groups": [groups[kind]],
                "analysisConfigurations": {"canary": {"direction": "either", "nanStrategy": "remove"}},
            }
        )
        control, experiment = _series(rng, kind, points, shift)
        pairs.append({"name": f"m{i:03d}", "values": {"control": control, "experiment": experiment}})
    return config, pairs


def _numbers(result: dict[str, Any]) -> list[tuple[Any, ...]]:
    out = []
    for r in result["results"]:
        s = r["resultMetadata"]["statistics"]
        out.append(
            (
                r["classification"],
                s.get("lowerConfidenceBound"),
                s.get("upperConfidenceBound"),
                s.get("estimate"),
            )
        )
    return out


def _best_of(repeats: int, fn: Any) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def run_case(metrics: int, points: int, seed: int) -> dict[str, Any]:
    config, pairs = workload(metrics, points, seed)
    thresholds = {"pass": 75, "marginal": 50}
    parsed = parse_canary_config(config)
    parsed_pairs = parse_metric_set_pairs(pairs, parsed)
    parsed_thresholds = parse_score_thresholds(thresholds)
    # The speed-up compares like with like: the same pipeline on the same parsed input, only the
    # interval implementation differs. The end-to-end time (parsing dicts included) is what callers see.
    end_to_end, _ = _best_of(FAST_REPEATS, lambda: judge(config, pairs, thresholds))
    fast_seconds, fast = _best_of(FAST_REPEATS, lambda: judge_parsed(parsed, parsed_pairs, parsed_thresholds))
    reference_seconds, reference = _best_of(
        1,
        lambda: judge_parsed(parsed, parsed_pairs, parsed_thresholds, interval=reference_confidence_interval),
    )
    labels = [r["classification"] for r in fast["results"]]
    return {
        "metrics": metrics,
        "points_per_side": points,
        "judgment_seconds": end_to_end,
        "fast_seconds": fast_seconds,
        "fast_seconds_per_metric": fast_seconds / metrics,
        "reference_seconds": reference_seconds,
        "reference_seconds_per_metric": reference_seconds / metrics,
        "speedup": reference_seconds / fast_seconds,
        "identical": _numbers(fast) == _numbers(reference) and fast["score"] == reference["score"],
        "labels": {label: labels.count(label) for label in sorted(set(labels))},
        "score": fast["score"]["score"],
    }


def main() -> int:
    cases = {"100x1440": run_case(100, 1440, seed=1), "10x10000": run_case(10, 10_000, seed=2)}
    header = (
        f"{'workload':<10} {'judge() s':>9} {'fast s':>8} {'fast s/metric':>14} {'ref s':>8} "
        f"{'ref s/metric':>13} {'speedup':>8} {'identical':>9}  labels"
    )
    print(header)
    print("-" * len(header))
    for name, c in cases.items():
        print(
            f"{name:<10} {c['judgment_seconds']:>9.3f} {c['fast_seconds']:>8.3f} "
            f"{c['fast_seconds_per_metric']:>14.5f} "
            f"{c['reference_seconds']:>8.3f} {c['reference_seconds_per_metric']:>13.5f} "
            f"{c['speedup']:>7.1f}x {c['identical']!s:>9}  {c['labels']}"
        )
    print(
        f"judge() s = whole judgment from dicts (parsing included), best of {FAST_REPEATS}; "
        "fast/ref = the same "
        "pipeline on parsed input with the fast interval / the straightforward port (re-rank the pooled "
        f"sample at every root-finder step), fast best of {FAST_REPEATS}, ref one run over all metrics"
    )
    goals = {
        "speedup_100x1440": {
            "value": round(cases["100x1440"]["speedup"], 1),
            "goal": f">= {GOAL_SPEEDUP:g}x",
            "met": cases["100x1440"]["speedup"] >= GOAL_SPEEDUP,
        },
        "speedup_10x10000": {
            "value": round(cases["10x10000"]["speedup"], 1),
            "goal": f">= {GOAL_SPEEDUP:g}x",
            "met": cases["10x10000"]["speedup"] >= GOAL_SPEEDUP,
        },
        "identical_results": {
            "value": all(c["identical"] for c in cases.values()),
            "goal": "labels, intervals and scores equal the straightforward port",
            "met": all(c["identical"] for c in cases.values()),
        },
        "judgment_100x1440_seconds": {
            "value": round(cases["100x1440"]["judgment_seconds"], 3),
            "goal": f"< {GOAL_JUDGMENT_SECONDS:g} s",
            "met": cases["100x1440"]["judgment_seconds"] < GOAL_JUDGMENT_SECONDS,
        },
    }
    results = {
        name: {k: (round(v, 6) if isinstance(v, float) else v) for k, v in c.items()}
        for name, c in cases.items()
    }
    print(json.dumps({"bench": "judge", "results": results, "goals": goals}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
