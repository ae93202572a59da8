"""The object store: bookkeeping (uid, resourceVersion, generation), optimistic concurrency, deletion
with finalizers and propagation, watch fan-out and resume, and its errors."""

from __future__ import annotations

import pytest

from airflow_delivery.sandbox.admission import Admission
from airflow_delivery.sandbox.errors import AlreadyExists, Conflict, Gone, Invalid, NotFound
from airflow_delivery.sandbox.resources import ResourceRegistry
from airflow_delivery.sandbox.store import ObjectStore

REGISTRY = ResourceRegistry()
NAMESPACES = REGISTRY.get("", "v1", "namespaces")
CONFIGMAPS = REGISTRY.get("", "v1", "configmaps")
DEPLOYMENTS = REGISTRY.get("apps", "v1", "deployments")


@pytest.fixture
def store() -> ObjectStore:
    s = ObjectStore(REGISTRY, admission=Admission(), history=50)
    s.create(NAMESPACES, {"metadata": {"name": "default"}})
    return s


def cm(name: str = "cfg", **data: str) -> dict:
    return {"metadata": {"name": name, "namespace": "default"}, "data": data}


def deployment(image: str = "app:1") -> dict:
    return {"metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}


def test_create_stamps_metadata_and_rejects_duplicates(store: ObjectStore) -> None:
    created = store.create(CONFIGMAPS, cm(a="1"), manager="tester")
    md = created["metadata"]
    assert md["uid"] and md["resourceVersion"] and md["creationTimestamp"] and md["generation"] == 1
    assert created["apiVersion"] == "v1" and created["kind"] == "ConfigMap"
    assert md["managedFields"][0]["manager"] == "tester"
    with pytest.raises(AlreadyExists, match='configmaps "cfg" already exists'):
        store.create(CONFIGMAPS, cm())


def test_create_in_a_missing_namespace_is_not_found(store: ObjectStore) -> None:
    with pytest.raises(NotFound, match='namespaces "nope" not found'):
        store.create(CONFIGMAPS, {"metadata": {"name": "x", "namespace": "nope"}})


def test_generate_name(store: ObjectStore) -> None:
    created = store.create(CONFIGMAPS, {"metadata": {"generateName": "job-", "namespace": "default"}})
    assert created["metadata"]["name"].startswith("job-") and len(created["metadata"]["name"]) == 9


def test_update_with_a_stale_resource_version_conflicts(store: ObjectStore) -> None:
    first = store.create(CONFIGMAPS, cm(a="1"))
    store.update(CONFIGMAPS, {**first, "data": {"a": "2"}})
    with pytest.raises(Conflict, match="the object has been modified"):
        store.update(CONFIGMAPS, {**first, "data": {"a": "3"}})


def test_no_op_update_keeps_the_resource_version(store: ObjectStore) -> None:
    first = store.create(CONFIGMAPS, cm(a="1"))
    assert store.update(CONFIGMAPS, first)["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_generation_moves_with_spec_not_metadata_or_status(store: ObjectStore) -> None:
    created = store.create(DEPLOYMENTS, deployment())
    labelled = dict(created, metadata={**created["metadata"], "labels": {"x": "y"}})
    labelled.pop("status", None)
    assert store.update(DEPLOYMENTS, labelled)["metadata"]["generation"] == 1
    current = store.get(DEPLOYMENTS, "default", "web")
    current["status"] = {"replicas": 9}
    status_written = store.update(DEPLOYMENTS, current, subresource="status")
    assert status_written["metadata"]["generation"] == 1 and status_written["status"] == {"replicas": 9}
    changed = store.get(DEPLOYMENTS, "default", "web")
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "app:2"
    changed["status"] = {"replicas": 0}
    updated = store.update(DEPLOYMENTS, changed)
    assert updated["metadata"]["generation"] == 2
    assert updated["status"] == {"replicas": 9}, "the main resource must not overwrite status"


def test_admission_defaults_and_rejects_bad_deployments(store: ObjectStore) -> None:
    created = store.create(DEPLOYMENTS, deployment())
    assert created["spec"]["replicas"] == 1
    assert created["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert created["spec"]["progressDeadlineSeconds"] == 600
    bad = deployment()
    bad["metadata"]["name"] = "other"
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(Invalid) as caught:
        store.create(DEPLOYMENTS, bad)
    assert "`selector` does not match template `labels`" in caught.value.message
    assert caught.value.causes[0]["field"] == "spec.template.metadata.labels"


def test_finalizers_delay_deletion_until_removed(store: ObjectStore) -> None:
    store.create(CONFIGMAPS, {**cm(), "metadata": {**cm()["metadata"], "finalizers": ["example.com/keep"]}})
    obj, gone = store.delete(CONFIGMAPS, "default", "cfg")
    assert not gone and obj["metadata"]["deletionTimestamp"]
    obj["metadata"]["finalizers"] = []
    store.update(CONFIGMAPS, obj)
    with pytest.raises(NotFound):
        store.get(CONFIGMAPS, "default", "cfg")


def test_delete_preconditions_and_bad_propagation(store: ObjectStore) -> None:
    store.create(CONFIGMAPS, cm())
    with pytest.raises(Conflict, match="Precondition failed: uid"):
        store.delete(CONFIGMAPS, "default", "cfg", preconditions={"uid": "other"})
    with pytest.raises(Exception, match="invalid propagationPolicy 'Sideways'"):
        store.delete(CONFIGMAPS, "default", "cfg", propagation="Sideways")


def test_orphan_propagation_strips_owner_references(store: ObjectStore) -> None:
    owner = store.create(CONFIGMAPS, cm("owner"))
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    store.create(CONFIGMAPS, {"metadata": {"name": "child", "namespace": "default", "ownerReferences": [ref]}})
    store.delete(CONFIGMAPS, "default", "owner", propagation="Orphan")
    assert "ownerReferences" not in store.get(CONFIGMAPS, "default", "child")["metadata"]


def test_watch_replays_from_a_resource_version_and_expires_old_ones(store: ObjectStore) -> None:
    created = store.create(CONFIGMAPS, cm(a="1"))
    since = created["metadata"]["resourceVersion"]
    store.update(CONFIGMAPS, {**created, "data": {"a": "2"}})
    store.delete(CONFIGMAPS, "default", "cfg")
    _, events = store.watch(CONFIGMAPS, "default", since)
    assert [e.type for e in events] == ["MODIFIED", "DELETED"]
    for index in range(60):
        store.create(CONFIGMAPS, cm(f"c{index}"))
    with pytest.raises(Gone, match="too old resource version"):
        store.watch(CONFIGMAPS, "default", since)


def test_watch_without_resource_version_starts_with_current_objects(store: ObjectStore) -> None:
    store.create(CONFIGMAPS, cm("one"))
    watcher, initial = store.watch(CONFIGMAPS, None, None)
    assert [(e.type, e.object["metadata"]["name"]) for e in initial] == [("ADDED", "one")]
    store.create(CONFIGMAPS, cm("two"))
    event = watcher.events.get(timeout=1)
    assert event is not None and event.type == "ADDED" and event.object["metadata"]["name"] == "two"
    store.stop_watch(watcher)


def test_deleting_a_namespace_deletes_its_contents(store: ObjectStore) -> None:
    store.create(NAMESPACES, {"metadata": {"name": "team"}})
    store.create(CONFIGMAPS, {"metadata": {"name": "x", "namespace": "team"}})
    store.delete(NAMESPACES, "", "team")
    assert store.list(CONFIGMAPS, "team")[0] == []
