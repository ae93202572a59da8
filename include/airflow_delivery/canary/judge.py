"""The judge's public entry point: Kayenta request in, Kayenta ``CanaryJudgeResult`` out.

The pipeline mirrors ``NetflixACAJudge``: parse -> per metric (transform each side, describe, classify)
-> score groups -> classify the score. The output is Kayenta's result shape, so existing Kayenta
tooling can read it; beyond Kayenta, each result's ``resultMetadata`` carries ``statistics`` (the
numbers the decision used) and ``explanation`` (one line saying why), and ``score`` carries an
``explanation`` too. Non-finite numbers are written as Jackson writes them (``"NaN"``, ``"Infinity"``),
so the result is strict JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from airflow_delivery.canary.classifier import MetricClassification, classify
from airflow_delivery.canary.explain import explain_metric, explain_score
from airflow_delivery.canary.mannwhitney import IntervalFunction, confidence_interval
from airflow_delivery.canary.models import (
    JUDGE_NAME,
    CanaryConfig,
    MetricSetPair,
    RequestError,
    ScoreThresholds,
    parse_canary_config,
    parse_metric_set_pairs,
    parse_score_thresholds,
)
from airflow_delivery.canary.preprocess import SampleStats, describe, transform
from airflow_delivery.canary.score_classifier import classify_score
from airflow_delivery.canary.scorer import ScoredMetric, score

__all__ = ["RequestError", "judge", "judge_parsed", "judge_request"]


def _json_number(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return _json_number(value)
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _metric_result(
    pair: MetricSetPair,
    config: CanaryConfig,
    index: int,
    seed: int,
    interval: IntervalFunction,
) -> tuple[dict[str, Any], ScoredMetric]:
    metric = config.metric(pair.name)
    assert metric is not None  # parse_metric_set_pairs checked every name
    analysis = metric.analysis
    control = transform(pair.control, analysis)
    experiment = transform(pair.experiment, analysis)
    control_stats, experiment_stats = describe(control), describe(experiment)
    verdict: MetricClassification = classify(
        pair.name,
        control,
        experiment,
        analysis,
        tolerance=config.judge.tolerance,
        confidence_level=config.judge.confidence_level,
        noise_seed=(seed, index),
        interval=interval,
    )
    verdict = _with_fetch_outcome(verdict, pair)
    result_metadata: dict[str, Any] = {}
    if verdict.deviation is not None:
        result_metadata["ratio"] = verdict.deviation
    result_metadata["statistics"] = verdict.statistics
    result_metadata["explanation"] = explain_metric(
        pair.name, verdict, control_stats, experiment_stats, muted=analysis.muted
    )
    result: dict[str, Any] = {
        "name": pair.name,
        "id": pair.id,
        "tags": dict(pair.tags),
        "classification": verdict.classification,
        "classificationReason": verdict.reason,
        "groups": list(metric.groups),
        "experimentMetadata": {"stats": _stats(experiment_stats)},
        "controlMetadata": {"stats": _stats(control_stats)},
        "resultMetadata": result_metadata,
        "critical": verdict.critical,
        "muted": analysis.muted,
    }
    scored = ScoredMetric(
        verdict.classification, verdict.reason, metric.groups, verdict.critical, analysis.muted
    )
    return result, scored


def _with_fetch_outcome(verdict: MetricClassification, pair: MetricSetPair) -> MetricClassification:
    """Say why data is missing when the metrics source knows (Prometheus down, a query error, no samples).

    A failed fetch is ``NodataFailMetric``: data that had to be there is missing, so the metric fails
    its group (Kayenta itself aborts a run whose fetch fails; ``Error`` would be ignored by its scorer
    and let a canary with no data at all score 100). No samples stays ``Nodata`` with the reason.
    """
    status, reason = pair.raw_extra.get("status"), pair.raw_extra.get("reason")
    if status == "error":
        verdict.statistics["error"] = str(reason or "metrics fetch failed")
        message = f"Metrics fetch failed: {reason or 'unknown error'}"
        return replace(verdict, classification="NodataFailMetric", reason=message, deviation=None)
    if reason and verdict.classification in ("Nodata", "NodataFailMetric"):
        return replace(verdict, reason=f"{verdict.reason}: {reason}")
    return verdict


def _stats(stats: SampleStats) -> dict[str, float | int]:
    return stats.to_dict()


def judge_parsed(
    config: CanaryConfig,
    pairs: Sequence[MetricSetPair],
    thresholds: ScoreThresholds,
    *,
    seed: int = 0,
    interval: IntervalFunction = confidence_interval,
) -> dict[str, Any]:
    """Judge already-validated input; ``interval`` lets the benchmark swap in the reference port."""
    outcomes = [_metric_result(pair, config, i, seed, interval) for i, pair in enumerate(pairs)]
    results = [r for r, _ in outcomes]
    scores = score([s for _, s in outcomes], config.group_weights)
    label = classify_score(scores.summary_score, thresholds)
    return _jsonable(
        {
            "judgeName": JUDGE_NAME,
            "results": results,
            "groupScores": [
                {"name": g.name, "score": g.score, "classification": "", "classificationReason": ""}
                for g in scores.group_scores
            ],
            "score": {
                "score": scores.summary_score,
                "classification": label,
                "classificationReason": scores.reason or "",
                "explanation": explain_score(scores, label, thresholds.pass_, thresholds.marginal),
            },
        }
    )


def judge(
    canary_config: dict,
    metric_set_pairs: list[dict],
    score_thresholds: dict | None = None,
    *,
    seed: int = 0,
) -> dict:
    """Judge one canary interval as Kayenta's NetflixACAJudge would.

    ``score_thresholds`` is ``{"pass": .., "marginal": ..}`` (Orca's 75/50 when None). Malformed input
    raises :class:`RequestError` whose ``path`` names the field (``canaryConfig...``,
    ``metricSetPairList[i]...``, ``scoreThresholds...``); a metric that fails to compare becomes an
    ``Error`` result instead. ``seed`` makes the noise for constant samples reproducible.
    """
    config = parse_canary_config(canary_config, "canaryConfig")
    pairs = parse_metric_set_pairs(metric_set_pairs, config, "metricSetPairList")
    thresholds = parse_score_thresholds(score_thresholds, "scoreThresholds")
    return judge_parsed(config, pairs, thresholds, seed=seed)


def judge_request(request: dict, *, seed: int = 0) -> dict:
    """Judge the CLI's request ``{"canaryConfig", "metricSetPairList", "scoreThresholds"}``."""
    if not isinstance(request, Mapping):
        raise RequestError(
            "$", "expected a JSON object with canaryConfig, metricSetPairList and scoreThresholds"
        )
    for key in ("canaryConfig", "metricSetPairList"):
        if key not in request:
            raise RequestError(key, "missing from the request")
    return judge(
        request["canaryConfig"], request["metricSetPairList"], request.get("scoreThresholds"), seed=seed
    )
