"""Deploy planning (``kubernetes.strategies``): versioned kinds per strategy, namespaces, wait targets,
which Service moves to which version, XCom records, and hashes that hide Secret data. Pure: no Airflow."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airflow_delivery.kubernetes.manifests import RUN_ANNOTATION
from airflow_delivery.kubernetes.strategies import (
    applied_records,
    deployed_hash,
    fill_namespace,
    plan_traffic,
    service_fronts,
    versioned_kinds,
    workload_targets,
)
from airflow_delivery.kubernetes.versioning import VERSION_LABEL, apply_versions


def deployment(name: str = "web", labels: dict | None = None) -> dict:
    labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "prod"},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "main", "image": "web:1"}]}}}}


def service(name: str = "web", selector: dict | None = None, namespace: str = "prod") -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": selector if selector is not None else {"app": "web"}}}


def test_strategies_version_deployments_only_when_they_move_traffic() -> None:
    assert "Deployment" not in versioned_kinds("rolling") and "ConfigMap" in versioned_kinds("rolling")
    assert "Deployment" in versioned_kinds("redblack") and "Deployment" in versioned_kinds("highlander")
    with pytest.raises(ValueError, match="unknown deploy strategy 'canary': expected one of rolling, redblack"):
        versioned_kinds("canary")


def test_fill_namespace_leaves_cluster_scoped_and_explicit_namespaces() -> None:
    manifests = [{"kind": "Namespace", "metadata": {"name": "x"}}, {"kind": "ConfigMap", "metadata": {"name": "c"}},
                 {"kind": "ConfigMap", "metadata": {"name": "d", "namespace": "other"}}]
    filled = fill_namespace(manifests, "prod")
    assert [m["metadata"].get("namespace") for m in filled] == [None, "prod", "other"]
    assert "namespace" not in manifests[1]["metadata"]  # input untouched


def test_wait_targets_are_the_workloads() -> None:
    targets = workload_targets([service(), deployment(), {"apiVersion": "batch/v1", "kind": "Job",
                                                          "metadata": {"name": "j", "namespace": "prod"}}])
    assert targets == [
        {"kind": "Deployment", "name": "web", "namespace": "prod", "api_version": "apps/v1"},
        {"kind": "Job", "name": "j", "namespace": "prod", "api_version": "batch/v1"},
    ]


def test_a_service_fronts_a_workload_whatever_its_version_label() -> None:
    assert service_fronts(service(selector={"app": "web", VERSION_LABEL: "v001"}), deployment())
    assert not service_fronts(service(selector={"app": "api"}), deployment())
    assert not service_fronts(service(namespace="dev"), deployment())
    assert not service_fronts(service(selector={}), deployment())  # selects nothing by label


def test_plan_traffic_moves_each_service_to_the_new_version() -> None:
    versioned = apply_versions([deployment(), service()], [], versioned_kinds=versioned_kinds("redblack"))
    moves, warnings = plan_traffic(versioned.manifests, versioned.assignments)
    assert [m.to_dict() for m in moves] == [{"service": "web", "namespace": "prod", "workload_kind": "Deployment",
                                            "workload": "web-v000", "base": "web", "version": "v000"}]
    assert warnings == []


def test_plan_traffic_warns_about_unrelated_services_and_missing_ones() -> None:
    versioned = apply_versions([deployment(), service("other", {"app": "other"})], [],
                               versioned_kinds=versioned_kinds("redblack"))
    moves, warnings = plan_traffic(versioned.manifests, versioned.assignments)
    assert moves == []
    assert "Service prod/other selects no versioned workload" in warnings[0]
    assert "no Service fronts the new version" in warnings[1]


def test_a_service_in_front_of_two_workloads_is_refused() -> None:
    shared = {"tier": "front"}
    versioned = apply_versions([deployment("a", {"app": "a", **shared}), deployment("b", {"app": "b", **shared}),
                                service(selector=shared)], [], versioned_kinds=versioned_kinds("redblack"))
    with pytest.raises(ValueError, match="selects the pods of several versioned workloads"):
        plan_traffic(versioned.manifests, versioned.assignments)


def test_applied_records_and_hashes_never_carry_secret_data() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "prod"},
              "stringData": {"password": "hunter2"}}
    versioned = apply_versions([secret, deployment()], [], versioned_kinds=versioned_kinds("rolling"))
    records = applied_records(versioned.manifests, versioned.assignments)
    assert records[0] == {"kind": "Secret", "api_version": "v1", "namespace": "prod", "name": "db-v000",
                          "base": "db", "version": 0, "reused": False}
    assert records[1]["base"] is None and records[1]["name"] == "web"
    other_password = [{**versioned.manifests[0], "stringData": {"password": "other"}}, versioned.manifests[1]]
    assert deployed_hash(versioned.manifests) == deployed_hash(other_password)


def test_deployed_hash_ignores_the_run_id_only() -> None:
    one = deployment()
    one["metadata"]["annotations"] = {RUN_ANNOTATION: "run-1"}
    two = deployment()
    two["metadata"]["annotations"] = {RUN_ANNOTATION: "run-2"}
    assert deployed_hash([one]) == deployed_hash([two])
    two["spec"]["replicas"] = 3
    assert deployed_hash([one]) != deployed_hash([two])


def test_strategies_import_nothing_from_airflow() -> None:
    check = ("import airflow_delivery.kubernetes.strategies, sys; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'kubernetes')))")
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]", result.stdout
