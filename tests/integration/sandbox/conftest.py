"""Registers the ``sandbox`` fixture for these tests."""

from tests.fixtures.sandbox import sandbox  # noqa: F401 - re-exported as a fixture
