"""Fixtures for the canary stage's tests against a real Prometheus (see ``tests/fixtures/prometheus.py``)."""

from tests.fixtures.prometheus import prometheus_connection, prometheus_factory  # noqa: F401 - registered here
