"""PrometheusHook against a real Prometheus: backfilled and scraped data, errors, a server that goes away.

Covered: range and instant queries return the backfilled samples, the async range query, a query
Prometheus rejects, ``test_connection`` while up and after the server stopped, and samples scraped
live from an exporter the test runs.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from airflow_delivery.hooks.prometheus import (
    PrometheusHook,
    PrometheusQueryError,
    PrometheusUnavailableError,
    RetryPolicy,
)

from tests.fixtures.prometheus import MetricsExporter, running_prometheus
from tests.integration.prometheus.canary_data import LATENCY, REQUESTS, STEP, T0, WINDOW, dataset
from tests.support import wait_until

pytestmark = pytest.mark.integration

FAST = RetryPolicy(attempts=2, backoff=0.05)
HEALTHY_BASELINE = f'{LATENCY}{{case="healthy",pod="demo-baseline-7d9f-a1"}}'


@pytest.fixture(scope="module")
def prometheus(prometheus_factory):
    return prometheus_factory(backfill_series=dataset())


@pytest.fixture
def hook(prometheus, prometheus_connection):
    return PrometheusHook(prometheus_connection("prom_real", prometheus.url), retry_policy=FAST)


def _expected_backfilled(at: float) -> float:
    """The value Prometheus must return at ``at``: the newest backfilled sample at or before it."""
    series = next(
        s
        for s in dataset()
        if s.metric == LATENCY
        and s.labels["pod"] == "demo-baseline-7d9f-a1"
        and s.labels["case"] == "healthy"
    )
    return max((t, v) for t, v in series.samples if t <= at)[1]


def test_range_query_returns_backfilled_samples_on_the_step_grid(hook):
    series = hook.query_range(HEALTHY_BASELINE, T0, T0 + WINDOW, STEP)
    assert len(series) == 1
    (only,) = series
    assert only.labels["pod"] == "demo-baseline-7d9f-a1" and only.labels["__name__"] == LATENCY
    times = [t for t, _ in only.samples]
    assert times == [T0.timestamp() + i * STEP for i in range(31)]
    assert [v for _, v in only.samples] == [_expected_backfilled(t) for t in times]


def test_range_query_with_rate_over_a_counter(hook):
    series = hook.query_range(f'sum(rate({REQUESTS}{{case="healthy"}}[2m]))', T0, T0 + WINDOW, STEP)
    values = [v for _, v in series[0].samples]
    assert len(values) == 31 and all(math.isclose(v, 30.0, rel_tol=1e-6) for v in values)  # 3 pods x 10/s


def test_instant_query(hook):
    at = T0.timestamp() + 300
    (only,) = hook.query(HEALTHY_BASELINE, at=at)
    assert only.samples == ((at, _expected_backfilled(at)),)


def test_async_range_query(hook):
    series = asyncio.run(hook.aquery_range(HEALTHY_BASELINE, T0, T0 + WINDOW, STEP))
    assert len(series) == 1 and len(series[0].samples) == 31


def test_no_samples_is_an_empty_result(hook):
    assert hook.query_range(f'{LATENCY}{{case="nothing"}}', T0, T0 + WINDOW, STEP) == []


def test_query_error_names_query_and_connection(hook):
    with pytest.raises(PrometheusQueryError) as info:
        hook.query_range("sum(rate(http_requests_total[5m])", T0, T0 + WINDOW, STEP)
    assert info.value.error_type == "bad_data"
    assert "'prom_real'" in str(info.value) and "sum(rate(http_requests_total[5m])" in str(info.value)


def test_too_many_points_is_a_query_error(hook):
    with pytest.raises(PrometheusQueryError, match="11,000|11000"):
        hook.query_range("up", 0, 1_000_000, 1)


def test_test_connection_true_then_false_after_prometheus_stops(prometheus_connection):
    with running_prometheus() as short_lived:
        conn_id = prometheus_connection("prom_short_lived", short_lived.url)
        ok, message = PrometheusHook(conn_id).test_connection()
        assert ok, message
        version = PrometheusHook(conn_id).build_info()["version"]
        assert version in message
    ok, message = PrometheusHook(conn_id).test_connection()
    assert not ok and "cannot connect" in message and "'prom_short_lived'" in message
    with pytest.raises(PrometheusUnavailableError, match="after 2 attempt"):
        PrometheusHook(conn_id, retry_policy=FAST).query("up")


def test_scraped_exporter_samples(prometheus_factory, prometheus_connection):
    with MetricsExporter() as exporter:
        exporter.set("demo_queue_depth", 7, pod="demo-canary-1")
        live = prometheus_factory(scrape_targets=[exporter.address])
        hook = PrometheusHook(prometheus_connection("prom_scrape", live.url), retry_policy=FAST)
        query = 'demo_queue_depth{pod="demo-canary-1"}'
        wait_until(lambda: hook.query(query), timeout=30, message="Prometheus to scrape the test exporter")
        exporter.set("demo_queue_depth", 11, pod="demo-canary-1")
        wait_until(
            lambda: [s.samples[0][1] for s in hook.query(query)] == [11.0],
            timeout=30,
            message="the new exporter value to be scraped",
        )
