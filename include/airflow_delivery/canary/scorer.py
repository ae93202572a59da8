"""Score classified metrics: Kayenta's ``WeightedSumScorer`` through ``ScoringHelper``.

Rules, in order: muted results are dropped; each group scores ``100 * #Pass / #(Pass, High, Low,
NodataFailMetric)`` (Nodata and Error are ignored, a group with none of those has no data); a critical
non-Pass result zeroes the canary; so does Nodata on 50 % or more of the results; otherwise groups are
summed with their weights (unweighted groups share what the configured weights leave of 100, a no-data
group counts as 100, nothing is renormalised) and the sum is rounded half-up to 2 decimals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

NODATA_THRESHOLD: Final = 50.0


@dataclass(frozen=True)
class ScoredMetric:
    """What the scorer needs from one metric result."""

    classification: str
    reason: str | None
    groups: tuple[str, ...]
    critical: bool
    muted: bool


@dataclass(frozen=True)
class GroupScore:
    name: str
    score: float
    no_data: bool
    counts: Mapping[str, int]


@dataclass(frozen=True)
class ScoreResult:
    group_scores: tuple[GroupScore, ...]
    summary_score: float
    reason: str | None
    weights: Mapping[str, float]  # the weight each present group was given (explanations use it)


def round_half_up(value: float, places: int = 2) -> float:
    """commons-math ``Precision.round``: ``BigDecimal(Double.toString(x)).setScale(2, HALF_UP)``."""
    quantum = Decimal(1).scaleb(-places)
    return float(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP))


def group_scores(results: Sequence[ScoredMetric]) -> tuple[GroupScore, ...]:
    """One score per group, in order of first appearance among the (non-muted) results."""
    labels: dict[str, list[str]] = {}
    for result in results:
        for group in result.groups:
            labels.setdefault(group, []).append(result.classification)
    scores = []
    for name, group_labels in labels.items():
        counts = {label: group_labels.count(label) for label in dict.fromkeys(group_labels)}
        passed = counts.get("Pass", 0)
        total = passed + counts.get("High", 0) + counts.get("Low", 0) + counts.get("NodataFailMetric", 0)
        no_data = total == 0
        scores.append(GroupScore(name, 0.0 if no_data else 100 * passed / total, no_data, counts))
    return tuple(scores)


def group_weights(scores: Sequence[GroupScore], configured: Mapping[str, float]) -> dict[str, float]:
    """Configured weights; groups without one share ``100 - sum(configured)`` equally."""
    missing = [g.name for g in scores if g.name not in configured]
    leftover = (100 - sum(configured.values())) / len(missing) if missing else 0.0
    return {g.name: configured.get(g.name, leftover) for g in scores}


def score(results: Sequence[ScoredMetric], configured_weights: Mapping[str, float]) -> ScoreResult:
    scored = [r for r in results if not r.muted]
    groups = group_scores(scored)
    weights = group_weights(groups, configured_weights)
    for result in scored:
        if result.critical and result.classification != "Pass":
            return ScoreResult(groups, 0.0, f"Canary Failed: {result.reason}", weights)
    nodata = sum(1 for r in scored if r.classification == "Nodata")
    if scored and nodata / len(scored) * 100 >= NODATA_THRESHOLD:
        return ScoreResult(groups, 0.0, "Canary Failed: 50% or more metrics returned NODATA", weights)
    summary = 0.0
    for group in groups:
        summary += (100.0 if group.no_data else group.score) * (weights[group.name] / 100)
    return ScoreResult(groups, round_half_up(summary), None, weights)
