"""Patching: JSON patch (via jsonpatch), JSON merge patch, strategic merge patch.

Aspects: merge keys of built-in lists (containers, ports, env, volumes), ``$patch`` directives,
``$retainKeys``, ``$deleteFromPrimitiveList``, ``$setElementOrder``, null deletes, atomic lists, and
the errors for malformed patches.
"""

from __future__ import annotations

import pytest

from airflow_delivery.sandbox.errors import BadRequest, Invalid
from airflow_delivery.sandbox.patch import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    apply_patch,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)

DEPLOYMENT = {
    "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
    "spec": {
        "replicas": 2,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
        "template": {
            "spec": {
                "containers": [
                    {"name": "app", "image": "app:1", "ports": [{"containerPort": 80}, {"containerPort": 9090}],
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                    {"name": "sidecar", "image": "proxy:1"},
                ],
                "volumes": [{"name": "data", "emptyDir": {}}],
                "tolerations": [{"key": "a"}, {"key": "b"}],
            }
        },
    },
}


def containers(obj: dict) -> list[dict]:
    return obj["spec"]["template"]["spec"]["containers"]


def test_strategic_merge_merges_containers_by_name_and_keeps_the_others() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}}
    result = strategic_merge_patch(DEPLOYMENT, patch)
    assert [c["name"] for c in containers(result)] == ["app", "sidecar"]
    assert containers(result)[0]["image"] == "app:2"
    assert containers(result)[0]["ports"] == [{"containerPort": 80}, {"containerPort": 9090}]
    assert containers(DEPLOYMENT)[0]["image"] == "app:1", "the original must not be modified"


def test_strategic_merge_merges_ports_by_container_port_and_env_by_name() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{
        "name": "app",
        "ports": [{"containerPort": 9090, "name": "metrics"}, {"containerPort": 8443}],
        "env": [{"name": "B", "value": "changed"}, {"name": "C", "value": "3"}],
    }]}}}}
    app = containers(strategic_merge_patch(DEPLOYMENT, patch))[0]
    assert app["ports"] == [{"containerPort": 80}, {"containerPort": 9090, "name": "metrics"}, {"containerPort": 8443}]
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "changed"}, {"name": "C", "value": "3"}]


def test_strategic_merge_replaces_lists_without_merge_key() -> None:
    patch = {"spec": {"template": {"spec": {"tolerations": [{"key": "c"}]}}}}
    assert strategic_merge_patch(DEPLOYMENT, patch)["spec"]["template"]["spec"]["tolerations"] == [{"key": "c"}]


def test_strategic_merge_null_deletes_a_field() -> None:
    result = strategic_merge_patch(DEPLOYMENT, {"metadata": {"labels": {"tier": None}}})
    assert result["metadata"]["labels"] == {"app": "web"}


def test_patch_delete_directive_removes_a_list_item_by_key() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}
    assert [c["name"] for c in containers(strategic_merge_patch(DEPLOYMENT, patch))] == ["app"]


def test_patch_replace_directive_in_a_list_replaces_the_whole_list() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x:1"}, {"$patch": "replace"}]}}}}
    assert containers(strategic_merge_patch(DEPLOYMENT, patch)) == [{"name": "only", "image": "x:1"}]


def test_patch_replace_directive_in_a_map_replaces_the_map() -> None:
    patch = {"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}}
    assert strategic_merge_patch(DEPLOYMENT, patch)["spec"]["strategy"] == {"type": "Recreate"}


def test_patch_delete_directive_in_a_map_removes_it() -> None:
    patch = {"spec": {"strategy": {"$patch": "delete"}}}
    assert "strategy" not in strategic_merge_patch(DEPLOYMENT, patch)["spec"]


def test_retain_keys_drops_fields_not_listed() -> None:
    """kubectl sends ``$retainKeys`` for Deployment strategies when switching to Recreate."""
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert strategic_merge_patch(DEPLOYMENT, patch)["spec"]["strategy"] == {"type": "Recreate"}


def test_delete_from_primitive_list_and_set_element_order() -> None:
    original = {"metadata": {"finalizers": ["a", "b", "c"]},
                "spec": {"template": {"spec": {"containers": [{"name": "x"}, {"name": "y"}]}}}}
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]},
             "spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "y"}, {"name": "x"}]}}}}
    result = strategic_merge_patch(original, patch)
    assert result["metadata"]["finalizers"] == ["a", "c"]
    assert [c["name"] for c in containers(result)] == ["y", "x"]


def test_finalizers_merge_as_a_set() -> None:
    result = strategic_merge_patch({"metadata": {"finalizers": ["a"]}}, {"metadata": {"finalizers": ["b", "a"]}})
    assert result["metadata"]["finalizers"] == ["a", "b"]


def test_strategic_merge_rejects_items_without_their_merge_key() -> None:
    with pytest.raises(Invalid, match="merge key 'name'"):
        strategic_merge_patch(DEPLOYMENT, {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}})


def test_strategic_merge_rejects_unknown_directives() -> None:
    with pytest.raises(BadRequest, match="unknown \\$patch directive 'explode'"):
        strategic_merge_patch(DEPLOYMENT, {"spec": {"$patch": "explode"}})


def test_merge_patch_replaces_lists_and_deletes_with_null() -> None:
    patch = {"spec": {"replicas": 5, "strategy": None, "template": {"spec": {"containers": [{"name": "z"}]}}}}
    result = merge_patch(DEPLOYMENT, patch)
    assert result["spec"]["replicas"] == 5
    assert "strategy" not in result["spec"]
    assert containers(result) == [{"name": "z"}]


def test_json_patch_applies_operations_and_reports_failures() -> None:
    result = json_patch(DEPLOYMENT, [{"op": "replace", "path": "/spec/replicas", "value": 7},
                                     {"op": "add", "path": "/metadata/labels/new", "value": "yes"}])
    assert result["spec"]["replicas"] == 7 and result["metadata"]["labels"]["new"] == "yes"
    with pytest.raises(Invalid, match="could not be applied"):
        json_patch(DEPLOYMENT, [{"op": "test", "path": "/spec/replicas", "value": 99}])
    with pytest.raises(BadRequest, match="must be a list of operations"):
        json_patch(DEPLOYMENT, {"op": "replace"})
    with pytest.raises(BadRequest, match="invalid JSON patch"):
        json_patch(DEPLOYMENT, [{"op": "frobnicate", "path": "/x"}])


def test_apply_patch_dispatches_on_content_type() -> None:
    assert apply_patch(MERGE_PATCH, DEPLOYMENT, {"spec": {"replicas": 1}})["spec"]["replicas"] == 1
    assert apply_patch(STRATEGIC_MERGE_PATCH, DEPLOYMENT, {"spec": {"replicas": 3}})["spec"]["replicas"] == 3
    assert apply_patch(JSON_PATCH, DEPLOYMENT, [{"op": "remove", "path": "/spec/replicas"}])["spec"].get(
        "replicas") is None
    with pytest.raises(BadRequest, match="unsupported patch type"):
        apply_patch("text/plain", DEPLOYMENT, {})
