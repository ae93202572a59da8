"""Backfilled Prometheus data -> PrometheusMetricsSource -> the Kayenta judge, end to end.

A healthy canary passes, a canary with doubled latency fails, and a canary whose metrics cannot be
fetched (Prometheus down) is never judged Pass.
"""

from __future__ import annotations

import json

import pytest
from airflow_delivery.canary.judge import judge
from airflow_delivery.hooks.prometheus import PrometheusHook, RetryPolicy
from airflow_delivery.metrics.prometheus import PrometheusMetricsSource
from airflow_delivery.metrics.source import jsonable_pair

from tests.integration.prometheus.canary_data import dataset, latency_metric, scopes
from tests.support import free_port

pytestmark = pytest.mark.integration

THRESHOLDS = {"pass": 75, "marginal": 50}


def canary_config(case: str) -> dict:
    metric = latency_metric(case)
    metric["analysisConfigurations"] = {"canary": {"direction": "increase", "nanStrategy": "remove"}}
    return {
        "name": f"latency-{case}",
        "judge": {"name": "NetflixACAJudge-v1.0", "judgeConfigurations": {}},
        "metrics": [metric],
        "classifier": {"groupWeights": {"latency": 100}},
    }


@pytest.fixture(scope="module")
def prometheus(prometheus_factory):
    return prometheus_factory(backfill_series=dataset())


def _judge(source: PrometheusMetricsSource, case: str) -> dict:
    config = canary_config(case)
    pairs = [
        pair
        for metric in config["metrics"]
        for pair in source.fetch_pairs(metric, *scopes(), canary_config=config)
    ]
    # Through strict JSON, as the canary stage stores them (XCom): NaN travels as "NaN".
    wire = json.loads(json.dumps([jsonable_pair(p) for p in pairs], allow_nan=False))
    return judge(config, wire, THRESHOLDS)


@pytest.fixture
def source(prometheus, prometheus_connection):
    conn_id = prometheus_connection("prom_judge", prometheus.url)
    return PrometheusMetricsSource(
        hook=PrometheusHook(conn_id, retry_policy=RetryPolicy(attempts=2, backoff=0.05))
    )


def test_healthy_canary_passes(source):
    result = _judge(source, "healthy")
    assert result["results"][0]["classification"] == "Pass", result["results"][0]
    assert result["score"]["classification"] == "Pass" and result["score"]["score"] == 100.0


def test_regressed_canary_fails(source):
    result = _judge(source, "regressed")
    assert result["results"][0]["classification"] == "High", result["results"][0]
    assert result["score"]["classification"] == "Fail" and result["score"]["score"] == 0.0


def test_unreachable_prometheus_is_never_a_pass(prometheus_connection):
    conn_id = prometheus_connection("prom_judge_down", f"http://127.0.0.1:{free_port()}")
    source = PrometheusMetricsSource(hook=PrometheusHook(conn_id, retry_policy=RetryPolicy(attempts=1)))
    result = _judge(source, "healthy")
    metric = result["results"][0]
    # A failed fetch is data that had to be there: it fails its group, and says why.
    assert metric["classification"] == "NodataFailMetric"
    assert "cannot connect" in metric["classificationReason"] and "prom_judge_down" in metric["classificationReason"]
    assert result["score"]["classification"] == "Fail"
