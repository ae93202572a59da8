"""Pure controller helpers: rolling-update arithmetic, pod-template hashing, command emulation, faults."""

from __future__ import annotations

import pytest

from airflow_delivery.sandbox.config import SandboxConfig
from airflow_delivery.sandbox.controllers.deployment import (
    pod_template_hash,
    resolve_int_or_percent,
    surge_and_unavailable,
)
from airflow_delivery.sandbox.controllers.kubelet import emulate_command
from airflow_delivery.sandbox.faults import FaultInjector, RequestInfo


def deployment(replicas: int, strategy: dict) -> dict:
    return {"spec": {"replicas": replicas, "strategy": strategy}}


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [
        (4, "25%", "25%", (1, 1)),
        (5, "25%", "25%", (2, 1)),  # surge rounds up, unavailable rounds down
        (3, 0, 0, (0, 1)),  # both zero: Kubernetes allows one unavailable
        (2, 1, "100%", (1, 2)),
    ],
)
def test_surge_and_unavailable(replicas: int, surge: object, unavailable: object, expected: tuple) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    assert surge_and_unavailable(deployment(replicas, strategy)) == expected


def test_recreate_allows_everything_unavailable() -> None:
    assert surge_and_unavailable(deployment(3, {"type": "Recreate"})) == (0, 3)
    assert resolve_int_or_percent("10", 3, True) == 10


def test_pod_template_hash_ignores_the_hash_label_and_is_stable() -> None:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "x:1"}]}}
    labelled = {"metadata": {"labels": {"app": "web", "pod-template-hash": "zzz"}}, "spec": template["spec"]}
    assert pod_template_hash(template) == pod_template_hash(labelled)
    assert pod_template_hash(template) != pod_template_hash(template, collision_count=1)
    assert set(pod_template_hash(template)) <= set("bcdfghjklmnpqrstvwxz2456789")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["echo", "hello", "world"], (["hello world"], 0)),
        (["sh", "-c", "echo one; echo 'two three' && exit 3"], (["one", "two three"], 3)),
        (["/bin/bash", "-c", "echo done\nfalse"], (["done"], 1)),
        (["python", "job.py"], ([], 0)),
        ([], ([], 0)),
    ],
)
def test_emulate_command(argv: list[str], expected: tuple) -> None:
    assert emulate_command(argv) == expected


def test_fault_rules_match_and_expire() -> None:
    faults = FaultInjector()
    rule = faults.add({"action": "error", "status": 503, "verb": "patch", "resource": "deployments", "times": 1})
    get = RequestInfo("GET", "/apis/apps/v1/namespaces/default/deployments/web", "get", "deployments")
    patch = RequestInfo("PATCH", get.path, "patch", "deployments", "default", "web")
    assert faults.take(get) == []
    assert [r.id for r in faults.take(patch)] == [rule.id]
    assert faults.take(patch) == [], "times=1: the rule is used up"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"action": "explode"}, "fault action 'explode'"),
        ({"action": "error", "status": 200}, "HTTP error code"),
        ({"action": "latency", "delay": -1}, "delay must be >= 0"),
        ({"action": "error", "colour": "red"}, "unknown fault fields \\['colour'\\]"),
        ({"status": 500}, "needs an 'action'"),
        ({"action": "drop_watch", "verb": "get"}, "only applies to watches"),
        ({"action": "error", "path": "("}, "not a valid regular expression"),
    ],
)
def test_bad_fault_rules_are_refused_naming_the_field(spec: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultInjector().add(spec)


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="ready_after must be >= 0"):
        SandboxConfig(ready_after=-1)
    config = SandboxConfig()
    with pytest.raises(ValueError, match="unknown sandbox config keys \\['colour'\\]"):
        config.update({"colour": "blue"})
