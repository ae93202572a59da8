"""NGINX Ingress canary annotations (weight, header, sticky cookie), computed as pure functions."""

from __future__ import annotations

import pytest

from airflow_delivery.kubernetes.traffic.base import CookieRoute, HeaderRoute, RouterConfigError, Weights
from airflow_delivery.kubernetes.traffic.nginx import (
    CANARY,
    CANARY_BY_COOKIE,
    CANARY_BY_HEADER,
    CANARY_BY_HEADER_VALUE,
    CANARY_WEIGHT,
    CANARY_WEIGHT_TOTAL,
    NginxConfig,
    annotations_patch,
    cleared_route_annotations,
    cookie_annotations,
    header_annotations,
    read_weights,
    weight_annotations,
)

LIVE = {"metadata": {"annotations": {"kubernetes.io/ingress.class": "nginx", CANARY: "true", CANARY_WEIGHT: "0"}}}


def test_weight_patch_changes_only_what_differs() -> None:
    patch = annotations_patch(LIVE, weight_annotations(Weights.canary_percent(20)))
    assert patch == {"metadata": {"annotations": {CANARY_WEIGHT: "20"}}}
    assert annotations_patch(LIVE, weight_annotations(Weights.canary_percent(0))) is None


def test_header_cookie_and_clearing() -> None:
    assert header_annotations(HeaderRoute("X-Canary", "yes")) == {
        CANARY: "true", CANARY_BY_HEADER: "X-Canary", CANARY_BY_HEADER_VALUE: "yes"}
    assert cookie_annotations(CookieRoute("canary_user")) == {CANARY: "true", CANARY_BY_COOKIE: "canary_user"}
    live = {"metadata": {"annotations": {CANARY_BY_COOKIE: "canary_user", "other": "kept"}}}
    assert annotations_patch(live, cleared_route_annotations()) == {"metadata": {"annotations": {CANARY_BY_COOKIE: None}}}


def test_read_weights_honours_total_and_non_canary() -> None:
    assert read_weights({CANARY: "true", CANARY_WEIGHT: "30"}) == {"stable": 70, "canary": 30}
    assert read_weights({CANARY: "true", CANARY_WEIGHT: "300", CANARY_WEIGHT_TOTAL: "1000"}) == {"stable": 70,
                                                                                                 "canary": 30}
    assert read_weights({CANARY_WEIGHT: "30"}) == {"stable": 100, "canary": 0}


def test_baseline_is_impossible_with_one_canary_ingress() -> None:
    with pytest.raises(RouterConfigError, match="cannot route to a baseline"):
        weight_annotations(Weights.parse({"stable": 80, "baseline": 10, "canary": 10}))


def test_config_refuses_the_same_ingress_twice() -> None:
    with pytest.raises(RouterConfigError, match="must be different"):
        NginxConfig.from_options({"canary_ingress": "web", "stable_ingress": "web"})
