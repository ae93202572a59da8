"""PrometheusMetricsSource against a real Prometheus holding backfilled baseline and canary pods.

Covered: control/experiment series from a Kayenta query config (template filter, ``PromQL:`` template,
named template, groupByFields), alignment on the step grid with missing points as NaN, several series
per side (Kayenta's per-tag-set pairing), no samples, a query Prometheus rejects, Prometheus down, the
async path, strict placeholders, and scopes built from an Orca canary-stage scope entry.
"""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta

import pytest
from airflow_delivery.hooks.prometheus import PrometheusHook, RetryPolicy
from airflow_delivery.metrics.prometheus import PrometheusMetricsSource
from airflow_delivery.metrics.source import MetricQueryConfigError, metrics_source_for, scopes_from_kayenta

from tests.fixtures.prometheus import running_prometheus
from tests.integration.prometheus.canary_data import (
    GAPS_PRESENT,
    LATENCY,
    NAMESPACE,
    STEP,
    T0,
    WINDOW,
    dataset,
    latency_metric,
    scopes,
)
from tests.support import free_port

pytestmark = pytest.mark.integration

FAST = RetryPolicy(attempts=2, backoff=0.05)


@pytest.fixture(scope="module")
def prometheus(prometheus_factory):
    return prometheus_factory(backfill_series=dataset())


@pytest.fixture
def source(prometheus, prometheus_connection):
    conn_id = prometheus_connection("prom_source", prometheus.url)
    return PrometheusMetricsSource(hook=PrometheusHook(conn_id, retry_policy=FAST))


def _direct_avg(source: PrometheusMetricsSource, case: str, version: str) -> list[float]:
    """The expected per-step average, computed from the raw per-pod series (not by the source)."""
    raw = source.hook.query_range(f'{LATENCY}{{case="{case}",version="{version}"}}', T0, T0 + WINDOW, STEP)
    per_time: dict[float, list[float]] = {}
    for series in raw:
        for t, v in series.samples:
            per_time.setdefault(t, []).append(v)
    grid = [T0.timestamp() + i * STEP for i in range(31)]
    return [sum(per_time[t]) / len(per_time[t]) if t in per_time else math.nan for t in grid]


def _same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(
        (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-12)
        for x, y in zip(a, b, strict=True)
    )


def test_baseline_vs_canary_from_template_filter(source):
    control, experiment = scopes()
    (pair,) = source.fetch_pairs(latency_metric("healthy"), control, experiment)
    assert pair["status"] == "ok" and "reason" not in pair and pair["tags"] == {}
    assert pair["name"] == "latency"
    assert _same(pair["values"]["control"], _direct_avg(source, "healthy", "baseline"))
    assert _same(pair["values"]["experiment"], _direct_avg(source, "healthy", "canary"))
    assert pair["attributes"]["control"]["query"] == (
        f'avg({LATENCY}{{case="healthy",version="baseline",namespace="{NAMESPACE}"}})'
    )
    assert pair["scopes"]["control"] == {
        "startTimeIso": "2025-01-01T00:00:00Z",
        "startTimeMillis": int(T0.timestamp() * 1000),
        "stepMillis": 60_000,
    }


def test_regressed_canary_is_visible_in_the_series(source):
    control, experiment = scopes()
    (pair,) = source.fetch_pairs(latency_metric("regressed"), control, experiment)
    c, e = pair["values"]["control"], pair["values"]["experiment"]
    assert 1.8 < (sum(e) / len(e)) / (sum(c) / len(c)) < 2.2


def test_promql_template_from_the_config_templates(source):
    canary_config = {
        "templates": {
            "p-latency": "PromQL:max(" + LATENCY + '{case="healthy",version="${scope}",namespace="${ns}"})'
        }
    }
    metric = {"name": "max-latency", "query": {"type": "prometheus", "customFilterTemplate": "p-latency"}}
    control, experiment = scopes(ns=NAMESPACE)
    (pair,) = source.fetch_pairs(metric, control, experiment, canary_config=canary_config)
    assert pair["status"] == "ok"
    assert pair["attributes"]["experiment"]["query"] == (
        f'max({LATENCY}{{case="healthy",version="canary",namespace="{NAMESPACE}"}})'
    )
    assert all(not math.isnan(v) for v in pair["values"]["experiment"])


def test_group_by_gives_one_pair_per_shared_tag_set(source):
    control, experiment = scopes()
    pairs = source.fetch_pairs(
        latency_metric("healthy", groupByFields=["namespace", "app"]), control, experiment
    )
    assert [(p["tags"], p["status"]) for p in pairs] == [({"app": "demo", "namespace": NAMESPACE}, "ok")]
    assert pairs[0]["attributes"]["control"]["query"].endswith(" by (namespace,app)")


def test_series_that_differ_per_pod_pair_like_kayenta_and_say_why(source):
    """Raw per-pod series have different tag sets on each side, so every pair lacks one side."""
    metric = {
        "name": "raw",
        "query": {
            "type": "prometheus",
            "customInlineTemplate": f'PromQL:{LATENCY}{{case="healthy",version="${{scope}}"}}',
        },
    }
    pairs = source.fetch_pairs(metric, *scopes())
    assert sorted(p["tags"]["pod"] for p in pairs) == [
        "demo-baseline-7d9f-a1",
        "demo-baseline-7d9f-b2",
        "demo-canary-5c8e-c3",
    ]
    for pair in pairs:
        assert pair["status"] == "nodata"
        missing = "experiment" if "baseline" in pair["tags"]["pod"] else "control"
        assert all(math.isnan(v) for v in pair["values"][missing]) and len(pair["values"][missing]) == 31
        assert f"no samples for {missing} scope" in pair["reason"] and pair["tags"]["pod"] in pair["reason"]


def test_missing_points_are_nan_on_the_grid(source):
    (pair,) = source.fetch_pairs(latency_metric("gaps"), *scopes())
    experiment = pair["values"]["experiment"]
    assert len(experiment) == len(pair["values"]["control"]) == 31
    assert [i for i, v in enumerate(experiment) if not math.isnan(v)] == list(GAPS_PRESENT)
    assert all(not math.isnan(v) for v in pair["values"]["control"])
    assert pair["status"] == "ok"  # partial data is data; the judge removes NaN (nanStrategy)


def test_control_offset_shifts_the_baseline_window(source):
    scope = {
        "controlScope": "baseline",
        "controlLocation": NAMESPACE,
        "experimentScope": "canary",
        "experimentLocation": NAMESPACE,
        "startTimeIso": "2025-01-01T00:10:00Z",
        "endTimeIso": "2025-01-01T00:20:00Z",
        "step": 60,
    }
    control, experiment = scopes_from_kayenta(scope, control_offset=timedelta(minutes=10))
    assert (control.start, experiment.start) == (T0, T0 + timedelta(minutes=10))
    (pair,) = source.fetch_pairs(latency_metric("gaps"), control, experiment)
    assert len(pair["values"]["control"]) == len(pair["values"]["experiment"]) == 11
    assert math.isnan(pair["values"]["experiment"][0]) and not math.isnan(pair["values"]["experiment"][1])


def test_no_samples_is_nodata_with_reason(source):
    (pair,) = source.fetch_pairs(latency_metric("nothing"), *scopes())
    assert pair["status"] == "nodata" and "error" not in pair
    assert all(math.isnan(v) for side in ("control", "experiment") for v in pair["values"][side])
    assert "no samples for control scope 'baseline'" in pair["reason"]
    assert "no samples for experiment scope 'canary'" in pair["reason"]
    assert 'case="nothing"' in pair["reason"]
    assert "no samples for experiment scope" in pair["attributes"]["experiment"]["reason"]


def test_query_error_becomes_an_error_pair(source):
    metric = {
        "name": "broken",
        "query": {"type": "prometheus", "customInlineTemplate": "PromQL:rate(${scope}["},
    }
    (pair,) = source.fetch_pairs(metric, *scopes())
    assert pair["status"] == "error" and pair["values"] == {"control": [], "experiment": []}
    assert pair["error"] == pair["reason"]
    assert "'broken'" in pair["reason"] and "bad_data" in pair["reason"] and "'prom_source'" in pair["reason"]
    assert pair["attributes"]["control"] == {"query": "rate(baseline[", "error": pair["reason"]}


def test_prometheus_down_becomes_an_error_pair(prometheus_connection):
    conn_id = prometheus_connection("prom_gone", f"http://127.0.0.1:{free_port()}")
    source = PrometheusMetricsSource(hook=PrometheusHook(conn_id, retry_policy=FAST))
    (pair,) = source.fetch_pairs(latency_metric("healthy"), *scopes())
    assert pair["status"] == "error"
    assert "cannot connect" in pair["reason"] and "'prom_gone'" in pair["reason"]
    assert "control scope 'baseline'" in pair["reason"] and "experiment scope 'canary'" in pair["reason"]


def test_missing_connection_becomes_an_error_pair():
    source = PrometheusMetricsSource(prometheus_conn_id="prom_never_defined")
    (pair,) = source.fetch_pairs(latency_metric("healthy"), *scopes())
    assert pair["status"] == "error" and "'prom_never_defined'" in pair["reason"]


def test_prometheus_stopping_between_windows(prometheus_connection):
    with running_prometheus(backfill_series=dataset()) as short_lived:
        conn_id = prometheus_connection("prom_flapping", short_lived.url)
        source = PrometheusMetricsSource(hook=PrometheusHook(conn_id, retry_policy=FAST))
        assert source.fetch_pairs(latency_metric("healthy"), *scopes())[0]["status"] == "ok"
    assert source.fetch_pairs(latency_metric("healthy"), *scopes())[0]["status"] == "error"


def test_async_fetch(source):
    (pair,) = asyncio.run(source.afetch_pairs(latency_metric("healthy"), *scopes()))
    assert pair["status"] == "ok"
    assert _same(pair["values"]["control"], _direct_avg(source, "healthy", "baseline"))


def test_undefined_placeholder_raises_before_querying(source):
    metric = latency_metric("healthy", customInlineTemplate='version="${scope}",cluster="${cluster}"')
    with pytest.raises(MetricQueryConfigError, match=r"metric 'latency'.*'\$\{cluster\}' is not defined"):
        source.fetch_pairs(metric, *scopes())


def test_registry_builds_the_prometheus_source(prometheus_connection, prometheus):
    conn_id = prometheus_connection("prom_registry", prometheus.url)
    source = metrics_source_for(latency_metric("healthy"), prometheus_conn_id=conn_id)
    assert isinstance(source, PrometheusMetricsSource)
    assert source.fetch_pairs(latency_metric("healthy"), *scopes())[0]["status"] == "ok"
