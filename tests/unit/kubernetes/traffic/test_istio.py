"""Istio VirtualService route weights, header and cookie routes, computed as pure functions."""

from __future__ import annotations

import copy

import pytest

from airflow_delivery.kubernetes.traffic.base import RouterConfigError, TrafficError, Weights
from airflow_delivery.kubernetes.traffic.istio import (
    Destination,
    IstioConfig,
    find_route,
    read_weights,
    weighted_route,
    with_canary_route,
    without_managed_routes,
)

CONFIG = IstioConfig.from_options({
    "virtual_service": "web",
    "stable": {"host": "web", "subset": "stable"},
    "canary": {"host": "web", "subset": "canary"},
    "baseline": {"host": "web", "subset": "baseline"},
})
ROUTE = {
    "name": "primary",
    "match": [{"uri": {"prefix": "/api"}}],
    "route": [{"destination": {"host": "web", "subset": "stable", "port": {"number": 80}}, "weight": 100,
               "headers": {"response": {"set": {"x-version": "stable"}}}}],
}


def test_weights_keep_existing_entries_and_add_missing_roles() -> None:
    route = weighted_route(ROUTE, CONFIG, Weights.parse({"stable": 90, "canary": 10}), "vs")
    assert route["match"] == ROUTE["match"]
    assert route["route"] == [
        {"destination": {"host": "web", "subset": "stable", "port": {"number": 80}}, "weight": 90,
         "headers": {"response": {"set": {"x-version": "stable"}}}},
        {"destination": {"host": "web", "subset": "canary"}, "weight": 10},
    ]
    assert read_weights(route, CONFIG) == {"stable": 90, "canary": 10, "baseline": 0}
    assert ROUTE["route"][0]["weight"] == 100  # input untouched


def test_baseline_canary_stable() -> None:
    route = weighted_route(ROUTE, CONFIG, Weights.parse({"stable": 80, "baseline": 10, "canary": 10}), "vs")
    assert [(e["destination"]["subset"], e["weight"]) for e in route["route"]] == [
        ("stable", 80), ("baseline", 10), ("canary", 10)]
    back = weighted_route(route, CONFIG, Weights.parse({"stable": 100, "canary": 0}), "vs")
    assert [(e["destination"]["subset"], e["weight"]) for e in back["route"]] == [
        ("stable", 100), ("baseline", 0), ("canary", 0)]


def test_an_unknown_destination_is_an_error_not_a_silent_change() -> None:
    route = copy.deepcopy(ROUTE)
    route["route"].append({"destination": {"host": "legacy"}, "weight": 0})
    with pytest.raises(TrafficError, match=r"also routes to \[\{'host': 'legacy'\}\]"):
        weighted_route(route, CONFIG, Weights.canary_percent(10), "vs default/web")


def test_weights_for_an_unconfigured_role_are_refused() -> None:
    config = IstioConfig.from_options({"virtual_service": "web", "stable": "web-stable", "canary": "web-canary"})
    with pytest.raises(RouterConfigError, match="no 'baseline' destination"):
        weighted_route(ROUTE, config, Weights.parse({"stable": 80, "baseline": 10, "canary": 10}), "vs")


def test_only_destination_without_weight_counts_as_100() -> None:
    assert read_weights({"route": [{"destination": {"host": "web", "subset": "stable"}}]}, CONFIG)["stable"] == 100


def test_find_route_by_name_or_the_only_own_route() -> None:
    http = [{"name": "airflow-delivery-header-primary"}, ROUTE]
    assert find_route(http, None, "vs") == 1
    assert find_route(http, "primary", "vs") == 1
    with pytest.raises(TrafficError, match=r"no HTTP route named 'other'; its routes are"):
        find_route(http, "other", "vs")
    with pytest.raises(TrafficError, match="has 2 HTTP routes"):
        find_route([ROUTE, {"name": "admin"}], None, "vs")


def test_header_route_goes_first_repeats_matches_and_is_idempotent() -> None:
    http = [ROUTE]
    once = with_canary_route(http, 0, CONFIG, {"exact": "yes"}, "header", "x-canary")
    assert [r["name"] for r in once] == ["airflow-delivery-header-primary", "primary"]
    assert once[0]["match"] == [{"uri": {"prefix": "/api"}, "headers": {"x-canary": {"exact": "yes"}}}]
    assert once[0]["route"] == [{"destination": {"host": "web", "subset": "canary"}, "weight": 100}]
    twice = with_canary_route(once, find_route(once, None, "vs"), CONFIG, {"exact": "yes"}, "header", "x-canary")
    assert twice == once
    both = with_canary_route(once, 1, CONFIG, {"regex": "c"}, "cookie", "cookie")
    assert [r["name"] for r in both] == ["airflow-delivery-header-primary", "airflow-delivery-cookie-primary",
                                         "primary"]
    assert without_managed_routes(both) == [ROUTE]


def test_destination_options_are_validated() -> None:
    assert Destination.parse("stable", "web") == Destination("web")
    with pytest.raises(RouterConfigError, match="unknown keys"):
        Destination.parse("canary", {"host": "web", "subst": "x"})
