"""Gateway API HTTPRoute backend weights and header/cookie rules, computed as pure functions."""

from __future__ import annotations

import pytest

from airflow_delivery.kubernetes.traffic.base import RouterConfigError, TrafficError, Weights
from airflow_delivery.kubernetes.traffic.gateway import (
    GatewayConfig,
    find_rule,
    read_weights,
    weighted_rule,
    with_canary_rule,
    without_managed_rules,
)

CONFIG = GatewayConfig.from_options({"http_route": "web", "stable": {"name": "web-stable", "port": 80},
                                     "canary": {"name": "web-canary", "port": 80}})
RULE = {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
        "backendRefs": [{"name": "web-stable", "port": 80, "filters": [{"type": "RequestHeaderModifier"}]}]}
OTHER = {"matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}], "backendRefs": [{"name": "admin"}]}


def test_weights_on_backend_refs() -> None:
    rule = weighted_rule(RULE, CONFIG, Weights.canary_percent(25), "route")
    assert rule["backendRefs"] == [
        {"name": "web-stable", "port": 80, "filters": [{"type": "RequestHeaderModifier"}], "weight": 75},
        {"name": "web-canary", "port": 80, "weight": 25},
    ]
    assert read_weights(rule, CONFIG) == {"stable": 75, "canary": 25}


def test_read_weights_are_proportions_with_default_one() -> None:
    rule = {"backendRefs": [{"name": "web-stable", "port": 80}, {"name": "web-canary", "port": 80}]}
    assert read_weights(rule, CONFIG) == {"stable": 50, "canary": 50}


def test_find_rule_picks_the_rule_referencing_our_backends() -> None:
    assert find_rule([OTHER, RULE], CONFIG, "route") == 1
    named = GatewayConfig.from_options({"http_route": "r", "stable": "a", "canary": "b", "rule": "missing"})
    with pytest.raises(TrafficError, match="no rule named 'missing'"):
        find_rule([RULE], named, "route")
    indexed = GatewayConfig.from_options({"http_route": "r", "stable": "a", "canary": "b", "rule": 3})
    with pytest.raises(TrafficError, match="rule index 3 does not exist"):
        find_rule([RULE], indexed, "route")
    with pytest.raises(TrafficError, match="0 rules referencing"):
        find_rule([OTHER], CONFIG, "route")


def test_unknown_backends_and_roles_are_refused() -> None:
    with pytest.raises(TrafficError, match=r"backends \['admin'\]"):
        weighted_rule({"backendRefs": [{"name": "web-stable", "port": 80}, {"name": "admin"}]}, CONFIG,
                      Weights.canary_percent(5), "route")
    with pytest.raises(RouterConfigError, match="no 'baseline' backend"):
        weighted_rule(RULE, CONFIG, Weights.parse({"stable": 80, "baseline": 10, "canary": 10}), "route")


def test_header_rule_repeats_matches_and_is_removable() -> None:
    rules = with_canary_rule([OTHER, RULE], 1, CONFIG, {"type": "Exact", "name": "X-Canary", "value": "1"}, "header")
    assert [r.get("name") for r in rules] == [None, "airflow-delivery-header", None]
    assert rules[1]["matches"] == [{"path": {"type": "PathPrefix", "value": "/"},
                                    "headers": [{"type": "Exact", "name": "X-Canary", "value": "1"}]}]
    assert rules[1]["backendRefs"] == [{"name": "web-canary", "port": 80, "weight": 1}]
    again = with_canary_rule(rules, 2, CONFIG, {"type": "Exact", "name": "X-Canary", "value": "1"}, "header")
    assert again == rules
    assert without_managed_rules(rules) == [OTHER, RULE]
