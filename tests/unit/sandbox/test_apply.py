"""Server-side apply and field ownership.

Aspects: field sets with keyed list items, fieldsV1 round trip, ownership on updates, conflicts
with another manager (409 naming the manager and field), force transferring ownership, shared
ownership when values agree, and removal of fields a manager stops applying.
"""

from __future__ import annotations

import pytest

from airflow_delivery.sandbox.apply import (
    field_set,
    from_fields_v1,
    parse_managed_fields,
    record_update,
    server_side_apply,
    to_fields_v1,
)
from airflow_delivery.sandbox.errors import Conflict

NOW = "2024-01-01T00:00:00Z"
AV = "apps/v1"


def deployment(image: str = "app:1", replicas: int = 2, **extra_labels: str) -> dict:
    return {
        "apiVersion": AV, "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web", **extra_labels}},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [
            {"name": "app", "image": image, "ports": [{"containerPort": 80}]}]}}},
    }


def managers(obj_managed: list[dict]) -> dict[str, set]:
    return {e.manager: e.fields for e in parse_managed_fields({"metadata": {"managedFields": obj_managed}})}


def test_field_set_addresses_keyed_items_and_skips_server_fields() -> None:
    paths = field_set({**deployment(), "status": {"replicas": 1},
                       "metadata": {"name": "web", "uid": "x", "labels": {"app": "web"}}})
    item = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"app"}')
    assert item in paths
    assert item + ("f:image",) in paths
    assert item + ("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}') in paths
    assert ("f:metadata", "f:labels", "f:app") in paths
    assert not any(p[0] in ("f:status", "f:apiVersion") for p in paths)
    assert ("f:metadata", "f:name") not in paths


def test_fields_v1_round_trip_marks_items_with_dot() -> None:
    paths = field_set(deployment())
    tree = to_fields_v1(paths)
    assert tree["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"app"}']["."] == {}
    assert from_fields_v1(tree) == paths


def test_apply_creates_and_owns_every_applied_field() -> None:
    result = server_side_apply(None, deployment(), manager="deployer", api_version=AV, now=NOW)
    assert result.object["spec"]["replicas"] == 2
    [entry] = result.managed_fields
    assert entry["manager"] == "deployer" and entry["operation"] == "Apply"


def test_apply_conflicts_with_another_manager_that_changed_a_field() -> None:
    live = server_side_apply(None, deployment(), manager="deployer", api_version=AV, now=NOW).object
    live["metadata"]["managedFields"] = server_side_apply(None, deployment(), manager="deployer", api_version=AV,
                                                          now=NOW).managed_fields
    edited = deployment(image="app:hotfix")
    edited["metadata"]["managedFields"] = record_update(live, edited, manager="kubectl-set", api_version=AV, now=NOW)
    with pytest.raises(Conflict) as caught:
        server_side_apply(edited, deployment(image="app:2"), manager="deployer", api_version=AV, now=NOW)
    assert 'conflict with "kubectl-set"' in caught.value.message
    assert '.spec.template.spec.containers[name="app"].image' in caught.value.message
    assert caught.value.causes[0]["reason"] == "FieldManagerConflict"


def test_force_transfers_ownership() -> None:
    base = server_side_apply(None, deployment(), manager="deployer", api_version=AV, now=NOW)
    live = {**base.object, "metadata": {**base.object["metadata"], "managedFields": base.managed_fields}}
    edited = deployment(image="app:hotfix")
    edited["metadata"]["managedFields"] = record_update(live, edited, manager="kubectl-set", api_version=AV, now=NOW)
    result = server_side_apply(edited, deployment(image="app:2"), manager="deployer", api_version=AV, now=NOW,
                               force=True)
    assert result.object["spec"]["template"]["spec"]["containers"][0]["image"] == "app:2"
    image = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"app"}', "f:image")
    owners = managers(result.managed_fields)
    assert image in owners["deployer"]
    assert image not in owners.get("kubectl-set", set())


def test_applying_the_same_value_shares_ownership_without_conflict() -> None:
    first = server_side_apply(None, deployment(), manager="a", api_version=AV, now=NOW)
    live = {**first.object, "metadata": {**first.object["metadata"], "managedFields": first.managed_fields}}
    second = server_side_apply(live, deployment(), manager="b", api_version=AV, now=NOW)
    owners = managers(second.managed_fields)
    assert ("f:spec", "f:replicas") in owners["a"] and ("f:spec", "f:replicas") in owners["b"]


def test_fields_no_longer_applied_are_removed_unless_someone_else_owns_them() -> None:
    first = server_side_apply(None, deployment(team="x"), manager="a", api_version=AV, now=NOW)
    live = {**first.object, "metadata": {**first.object["metadata"], "managedFields": first.managed_fields}}
    second = server_side_apply(live, deployment(), manager="a", api_version=AV, now=NOW)
    assert "team" not in second.object["metadata"]["labels"]
    assert second.object["metadata"]["labels"]["app"] == "web"


def test_update_ownership_moves_changed_fields_to_the_updater() -> None:
    old = deployment()
    old["metadata"]["managedFields"] = record_update(None, old, manager="creator", api_version=AV, now=NOW)
    new = deployment(replicas=5)
    owners = managers(record_update(old, new, manager="scaler", api_version=AV, now=NOW))
    assert owners["scaler"] == {("f:spec", "f:replicas")}
    assert ("f:spec", "f:replicas") not in owners["creator"]
