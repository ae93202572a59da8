"""The ``canary`` stage: spec checks, and the operator it becomes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_delivery.pipeline.loader import PipelineFileError, parse_pipeline_text

CANARY = """
name: shop
stages:
  - id: canary
    type: canary
    config: golden-signals
    scopes: {control: baseline, experiment: canary, location: prod, step: 10}
    lifetime: 6m
    interval: 2m
    begin_after: 30s
    thresholds: {pass: 80, marginal: 60}
    on_marginal: ask
"""


def test_canary_stage_builds_the_canary_operator() -> None:
    from airflow_delivery.operators.canary import CanaryAnalysisOperator
    from airflow_delivery.pipeline.factory import build_dag

    task = build_dag(parse_pipeline_text(CANARY, "shop.yaml")).get_task("canary")
    assert isinstance(task, CanaryAnalysisOperator)
    assert task.lifetime == timedelta(minutes=6)
    assert task.analysis_interval == timedelta(minutes=2)
    assert task.begin_after == timedelta(seconds=30)
    assert task.scopes["controlScope"] == "baseline" and task.scopes["experimentLocation"] == "prod"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("interval: 2m", "interval: 10m"), "must be positive and at most the lifetime"),
        (("lifetime: 6m", "lifetime: 0s"), "lifetime must be longer than 0s"),
        (("{pass: 80, marginal: 60}", "{pass: 50, marginal: 60}"), "marginal (60) must not exceed pass (50)"),
        (("on_marginal: ask", "on_marginal: maybe"), "stages[0].on_marginal"),
        (("    scopes: {control: baseline, experiment: canary, location: prod, step: 10}\n", ""),
         "stages[0].scopes: Field required"),
        (("config: golden-signals", "config: golden-signals\n    metrics: {source: datadog}"), "stages[0].metrics.source"),
    ],
)
def test_canary_stage_mistakes(change: tuple[str, str], expected: str) -> None:
    with pytest.raises(PipelineFileError) as info:
        parse_pipeline_text(CANARY.replace(*change), "shop.yaml")
    assert any(expected in str(e) for e in info.value.errors), [str(e) for e in info.value.errors]
