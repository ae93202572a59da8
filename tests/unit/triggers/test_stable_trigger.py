"""``WaitForStableTrigger`` without a cluster: serialisation, argument checks, label selectors.

Its behaviour against a cluster is in ``tests/integration/deploy/test_stable_trigger.py``.
"""

from __future__ import annotations

import pytest

from airflow_delivery.triggers.stable import (
    WaitForStableTrigger,
    normalize_targets,
    selector_string,
    target_key,
)

CLASSPATH = "airflow_delivery.triggers.stable.WaitForStableTrigger"
DEADLINE = "2030-01-01T00:00:00+00:00"
TARGET = {"kind": "Deployment", "name": "web", "namespace": "prod"}


def test_serialize_returns_every_argument() -> None:
    trigger = WaitForStableTrigger(
        targets=[TARGET, {"kind": "VirtualService", "name": "web", "api_version": "networking.istio.io/v1"}],
        kubernetes_conn_id="prod_cluster", deadline=DEADLINE, poll_interval=2, result={"strategy": "rolling"},
        end_from_trigger=True, resume_not_before="2029-12-31T23:59:00+00:00",
    )
    assert trigger.serialize() == (
        CLASSPATH,
        {
            "targets": [
                {"kind": "Deployment", "name": "web", "namespace": "prod", "api_version": None},
                {"kind": "VirtualService", "name": "web", "namespace": None, "api_version": "networking.istio.io/v1"},
            ],
            "kubernetes_conn_id": "prod_cluster",
            "deadline": DEADLINE,
            "poll_interval": 2.0,
            "result": {"strategy": "rolling"},
            "end_from_trigger": True,
            "resume_not_before": "2029-12-31T23:59:00+00:00",
        },
    )


def test_serialized_trigger_rebuilds_identically() -> None:
    classpath, kwargs = WaitForStableTrigger(targets=[TARGET], kubernetes_conn_id="c", deadline=DEADLINE).serialize()
    assert WaitForStableTrigger(**kwargs).serialize() == (classpath, kwargs)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"deadline": "2030-01-01T00:00:00"}, "deadline '2030-01-01T00:00:00' has no time zone"),
        ({"deadline": "tomorrow"}, "deadline 'tomorrow' is not an ISO-8601 timestamp"),
        ({"poll_interval": 0}, "poll_interval must be > 0"),
        ({"resume_not_before": "2030-01-01T00:00:00"}, "resume_not_before .* has no time zone"),
        ({"targets": [{"kind": "Deployment"}]}, r"targets\[0\].name is missing"),
        ({"targets": [{"kind": "Deployment", "name": "w", "replicas": 2}]}, r"targets\[0\] has unknown keys \['replicas'\]"),
    ],
)
def test_bad_arguments_are_named(arguments: dict, message: str) -> None:
    kwargs = {"targets": [TARGET], "kubernetes_conn_id": "c", "deadline": DEADLINE, **arguments}
    with pytest.raises(ValueError, match=message):
        WaitForStableTrigger(**kwargs)


@pytest.mark.parametrize(("targets", "message"), [
    ("deployment/web", "targets must be a list"),
    (["deployment/web"], r"targets\[0\] must be a mapping"),
])
def test_targets_of_the_wrong_type_are_named(targets: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        WaitForStableTrigger(targets=targets, kubernetes_conn_id="c", deadline=DEADLINE)  # type: ignore[arg-type]


def test_target_keys_and_normalisation() -> None:
    assert normalize_targets([{"kind": "Job", "name": "migrate", "namespace": ""}]) == [
        {"kind": "Job", "name": "migrate", "namespace": None, "api_version": None}]
    assert target_key(TARGET) == "Deployment/prod/web"


def test_selector_string_covers_labels_and_expressions() -> None:
    selector = {
        "matchLabels": {"app": "web", "tier": "front"},
        "matchExpressions": [
            {"key": "track", "operator": "In", "values": ["stable", "canary"]},
            {"key": "legacy", "operator": "NotIn", "values": ["yes"]},
            {"key": "team", "operator": "Exists"},
            {"key": "debug", "operator": "DoesNotExist"},
        ],
    }
    assert selector_string(selector) == "app=web,tier=front,track in (stable,canary),legacy notin (yes),team,!debug"
    assert selector_string({}) is None
    assert selector_string(None) is None
