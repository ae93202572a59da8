"""Versioned objects (``-vNNN``).

Covered: names and parsing, next version (first, increment, wrap after v999 by creation time,
skipping taken numbers, all taken), reuse of identical content, dynamic targets (newest, second
newest, oldest, largest, smallest, ties, not found), pruning with ``max_version_history`` and
protected names, the strategy annotations, config references in every place a pod spec reads a
ConfigMap or Secret, and ``apply_versions`` renaming configs and rewriting workloads so a rollback
restores configuration.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_delivery.kubernetes.manifests import CONTENT_HASH_ANNOTATION, parse_manifests
from airflow_delivery.kubernetes.versioning import (
    CLUSTER_LABEL,
    MAX_VERSION_HISTORY_ANNOTATION,
    SEQUENCE_ANNOTATION,
    VERSION_LABEL,
    VERSIONED_ANNOTATION,
    TargetNotFoundError,
    VersioningError,
    apply_versions,
    choose_version,
    config_references,
    is_versioned,
    max_version_history,
    older_versions,
    parse_versioned_name,
    prune_candidates,
    rewrite_config_references,
    select_target,
    version_selector,
    versioned_content_hash,
    versioned_name,
    versions_of,
)


def obj(
    name: str,
    created: str | datetime | None,
    replicas: int | None = None,
    kind: str = "ReplicaSet",
    digest: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if created is not None:
        metadata["creationTimestamp"] = created
    if digest:
        metadata["annotations"] = {CONTENT_HASH_ANNOTATION: digest}
    if namespace:
        metadata["namespace"] = namespace
    body: dict[str, Any] = {"kind": kind, "metadata": metadata}
    if replicas is not None:
        body["spec"] = {"replicas": replicas}
    return body


CLUSTER = [
    obj("api-v001", "2024-05-01T10:00:00Z", 3),
    obj("api-v002", "2024-05-02T10:00:00Z", 5),
    obj("api-v003", "2024-05-03T10:00:00Z", 1),
    obj("api-v004", "2024-05-04T10:00:00Z", 5),
    obj("other-v009", "2024-05-05T10:00:00Z", 9),
    obj("api", "2024-05-06T10:00:00Z", 9),  # not versioned
]


# ---------------------------------------------------------------------------------------------- names


def test_names_round_trip() -> None:
    assert versioned_name("api", 4) == "api-v004"
    assert versioned_name("api", 999) == "api-v999"
    assert parse_versioned_name("api-v004") == ("api", 4)
    assert parse_versioned_name("my-api-v2-v010") == ("my-api-v2", 10)
    assert parse_versioned_name("api-v04") is None and parse_versioned_name("api") is None


@pytest.mark.parametrize("version", [-1, 1000])
def test_version_out_of_range(version: int) -> None:
    with pytest.raises(VersioningError, match="out of range"):
        versioned_name("api", version)


def test_versioned_name_too_long() -> None:
    with pytest.raises(VersioningError, match="longer than 253"):
        versioned_name("a" * 250, 1)


def test_version_selector_is_a_valid_label_selector() -> None:
    assert version_selector("api") == f"{CLUSTER_LABEL}=api"


# ---------------------------------------------------------------------------------------------- choosing


def test_first_version_is_v000() -> None:
    assert choose_version("api", []) == choose_version("api", [obj("other-v003", None)])
    choice = choose_version("api", [])
    assert (choice.version, choice.name, choice.reused) == (0, "api-v000", False)


def test_next_version_follows_the_newest() -> None:
    assert choose_version("api", CLUSTER).name == "api-v005"


def test_wrap_after_v999_goes_by_creation_time_and_skips_taken_numbers() -> None:
    existing = [
        obj("api-v001", "2024-01-01T00:00:00Z"),
        obj("api-v998", "2024-01-02T00:00:00Z"),
        obj("api-v999", "2024-01-03T00:00:00Z"),
        obj("api-v000", "2024-01-04T00:00:00Z"),  # newest: wrapped already
    ]
    assert choose_version("api", existing).name == "api-v002"  # v001 is still there


def test_datetime_and_offset_timestamps_are_understood() -> None:
    existing = [
        obj("api-v005", datetime(2024, 1, 2, tzinfo=UTC)),
        obj("api-v007", "2024-01-01T00:00:00+00:00"),
        obj("api-v009", "2024-01-01T23:00:00"),  # naive: UTC
    ]
    assert [v.name for v in versions_of(existing, "api")] == ["api-v007", "api-v009", "api-v005"]
    assert choose_version("api", existing).version == 6


def test_same_timestamp_orders_by_number() -> None:
    existing = [obj("api-v003", "2024-01-01T00:00:00Z"), obj("api-v002", "2024-01-01T00:00:00Z")]
    assert choose_version("api", existing).version == 4


def test_all_versions_taken_is_an_error_saying_how_to_prune() -> None:
    existing = [obj(versioned_name("api", v), f"2024-01-01T00:00:{v % 60:02d}Z") for v in range(1000)]
    with pytest.raises(VersioningError, match="all 1000 versions of 'api' exist.*max-version-history"):
        choose_version("api", existing)


def test_identical_content_reuses_its_version() -> None:
    existing = [
        obj("api-v001", "2024-01-01T00:00:00Z", digest="sha256:old"),
        obj("api-v002", "2024-01-02T00:00:00Z", digest="sha256:new"),
    ]
    choice = choose_version("api", existing, "sha256:old")
    assert (choice.name, choice.reused) == ("api-v001", True)
    assert choose_version("api", existing, "sha256:other").name == "api-v003"


# ---------------------------------------------------------------------------------------------- targets


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ("newest", "api-v004"),
        ("second_newest", "api-v003"),
        ("oldest", "api-v001"),
        ("largest", "api-v004"),  # v002 and v004 both have 5: the newer wins
        ("smallest", "api-v003"),
    ],
)
def test_dynamic_targets(criteria: str, expected: str) -> None:
    assert select_target(CLUSTER, "api", criteria)["metadata"]["name"] == expected


def test_smallest_tie_goes_to_the_newer_and_missing_replicas_count_as_one() -> None:
    existing = [obj("api-v001", "2024-01-01T00:00:00Z"), obj("api-v002", "2024-01-02T00:00:00Z", 1)]
    assert select_target(existing, "api", "smallest")["metadata"]["name"] == "api-v002"


def test_target_filters_by_kind() -> None:
    existing = [
        obj("api-v001", "2024-01-01T00:00:00Z", kind="Deployment"),
        obj("api-v002", "2024-01-02T00:00:00Z"),
    ]
    assert select_target(existing, "api", "newest", kind="Deployment")["metadata"]["name"] == "api-v001"


def test_target_errors() -> None:
    with pytest.raises(ValueError, match="unknown target criteria 'latest'.*second_newest"):
        select_target(CLUSTER, "api", "latest")
    with pytest.raises(TargetNotFoundError, match="no version of 'missing' exists"):
        select_target(CLUSTER, "missing", "newest")
    with pytest.raises(TargetNotFoundError, match="only one version \\(other-v009\\)"):
        select_target(CLUSTER, "other", "second_newest")


# ---------------------------------------------------------------------------------------------- pruning


def test_prune_keeps_the_newest_n() -> None:
    names = [o["metadata"]["name"] for o in prune_candidates(CLUSTER, "api", 2)]
    assert names == ["api-v001", "api-v002"]
    assert prune_candidates(CLUSTER, "api", 10) == []


def test_prune_never_returns_protected_versions() -> None:
    names = [o["metadata"]["name"] for o in prune_candidates(CLUSTER, "api", 1, protect=["api-v002"])]
    assert names == ["api-v001", "api-v003"]


@pytest.mark.parametrize("bad", [0, -1, "2"])
def test_prune_needs_at_least_one(bad: Any) -> None:
    with pytest.raises(ValueError, match="keep at least 1"):
        prune_candidates(CLUSTER, "api", bad)


def test_older_versions_newest_first() -> None:
    assert [o["metadata"]["name"] for o in older_versions(CLUSTER, "api", "api-v004")] == [
        "api-v003",
        "api-v002",
        "api-v001",
    ]


# ---------------------------------------------------------------------------------------------- annotations


def test_is_versioned_by_kind_or_annotation() -> None:
    assert is_versioned({"kind": "ConfigMap", "metadata": {"name": "c"}})
    assert not is_versioned({"kind": "Deployment", "metadata": {"name": "d"}})
    assert is_versioned({"kind": "Deployment", "metadata": {"name": "d"}}, {"Deployment"})
    on = {"kind": "Deployment", "metadata": {"name": "d", "annotations": {VERSIONED_ANNOTATION: "True"}}}
    off = {"kind": "ConfigMap", "metadata": {"name": "c", "annotations": {VERSIONED_ANNOTATION: "false"}}}
    assert is_versioned(on) and not is_versioned(off)
    bad = {"kind": "ConfigMap", "metadata": {"name": "c", "annotations": {VERSIONED_ANNOTATION: "yes"}}}
    with pytest.raises(VersioningError, match="must be 'true' or 'false'"):
        is_versioned(bad)


def test_max_version_history_annotation() -> None:
    assert max_version_history({"metadata": {"name": "a"}}) is None
    assert max_version_history({"metadata": {"annotations": {MAX_VERSION_HISTORY_ANNOTATION: "3"}}}) == 3
    for bad in ("0", "three", "-2"):
        with pytest.raises(VersioningError, match="at least 1"):
            max_version_history(
                {
                    "kind": "ReplicaSet",
                    "metadata": {"name": "a", "annotations": {MAX_VERSION_HISTORY_ANNOTATION: bad}},
                }
            )


# ---------------------------------------------------------------------------------------------- config references

WORKLOAD = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: prod}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      imagePullSecrets: [{name: pull}]
      initContainers:
      - name: init
        image: busybox
        envFrom: [{configMapRef: {name: settings}}]
      containers:
      - name: api
        image: nginx
        envFrom: [{configMapRef: {name: settings}}, {secretRef: {name: creds}}]
        env:
        - {name: A, valueFrom: {configMapKeyRef: {name: settings, key: a}}}
        - {name: B, valueFrom: {secretKeyRef: {name: creds, key: b}}}
        - {name: C, value: plain}
        - {name: D, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
      volumes:
      - {name: v1, configMap: {name: settings}}
      - {name: v2, secret: {secretName: creds}}
      - name: v3
        projected:
          sources:
          - {configMap: {name: settings}}
          - {secret: {name: creds}}
          - {serviceAccountToken: {path: token}}
      - {name: v4, emptyDir: {}}
"""


def test_config_references_finds_every_place() -> None:
    [workload] = parse_manifests(WORKLOAD)
    refs = {(r.kind, r.name, r.path) for r in config_references(workload)}
    base = "spec.template.spec"
    assert refs == {
        ("Secret", "pull", f"{base}.imagePullSecrets[0].name"),
        ("ConfigMap", "settings", f"{base}.initContainers[0].envFrom[0].configMapRef.name"),
        ("ConfigMap", "settings", f"{base}.containers[0].envFrom[0].configMapRef.name"),
        ("Secret", "creds", f"{base}.containers[0].envFrom[1].secretRef.name"),
        ("ConfigMap", "settings", f"{base}.containers[0].env[0].valueFrom.configMapKeyRef.name"),
        ("Secret", "creds", f"{base}.containers[0].env[1].valueFrom.secretKeyRef.name"),
        ("ConfigMap", "settings", f"{base}.volumes[0].configMap.name"),
        ("Secret", "creds", f"{base}.volumes[1].secret.secretName"),
        ("ConfigMap", "settings", f"{base}.volumes[2].projected.sources[0].configMap.name"),
        ("Secret", "creds", f"{base}.volumes[2].projected.sources[1].secret.name"),
    }
    assert config_references({"kind": "Service", "spec": {}}) == []


def test_rewrite_config_references_respects_kind_and_namespace() -> None:
    [workload] = parse_manifests(WORKLOAD)
    before = copy.deepcopy(workload)
    renames = {
        ("ConfigMap", "prod", "settings"): "settings-v002",
        ("Secret", "prod", "settings"): "wrong-kind",
        ("Secret", "staging", "creds"): "wrong-namespace",
    }
    [rewritten] = rewrite_config_references([workload], renames)
    assert workload == before
    names = {(r.kind, r.name) for r in config_references(rewritten)}
    assert names == {("ConfigMap", "settings-v002"), ("Secret", "creds"), ("Secret", "pull")}


# ---------------------------------------------------------------------------------------------- apply_versions

DEPLOY = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: prod}
data: {mode: fast}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: api, namespace: prod}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: api
        image: nginx
        envFrom: [{configMapRef: {name: settings}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker, namespace: prod}
spec:
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker}}
    spec:
      containers:
      - {name: w, image: busybox, envFrom: [{configMapRef: {name: settings}}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: prod}
spec: {selector: {app: api}}
"""


def live(manifests: list[dict], created: str) -> list[dict]:
    """What the API would return for applied manifests (plus server fields)."""
    out = []
    for m in manifests:
        m = copy.deepcopy(m)
        m["metadata"]["creationTimestamp"] = created
        m["metadata"]["uid"] = "x"
        m["status"] = {}
        out.append(m)
    return out


def test_apply_versions_first_deploy() -> None:
    manifests = parse_manifests(DEPLOY)
    before = copy.deepcopy(manifests)
    result = apply_versions(manifests, [])
    assert manifests == before
    config, replicaset, deployment, service = result.manifests
    assert config["metadata"]["name"] == "settings-v000"
    assert config["metadata"]["labels"] == {VERSION_LABEL: "v000", CLUSTER_LABEL: "settings"}
    assert config["metadata"]["annotations"][SEQUENCE_ANNOTATION] == "0"
    assert config["metadata"]["annotations"][CONTENT_HASH_ANNOTATION].startswith("sha256:")
    assert replicaset["metadata"]["name"] == "api-v000"
    assert replicaset["spec"]["selector"]["matchLabels"] == {"app": "api", VERSION_LABEL: "v000"}
    assert replicaset["spec"]["template"]["metadata"]["labels"][VERSION_LABEL] == "v000"
    spec = replicaset["spec"]["template"]["spec"]["containers"][0]
    assert spec["envFrom"][0]["configMapRef"]["name"] == "settings-v000"
    # Not versioned, but its reference follows the versioned ConfigMap (a rollout undo restores it).
    assert deployment["metadata"]["name"] == "worker"
    assert (
        deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"]
        == "settings-v000"
    )
    assert service == before[3]
    assert result.name_of("ReplicaSet", "api", "prod") == "api-v000"
    with pytest.raises(KeyError, match="Deployment 'worker' was not versioned"):
        result.name_of("Deployment", "worker", "prod")


def test_apply_versions_redeploy_same_content_reuses_and_changed_config_bumps_both() -> None:
    first = apply_versions(parse_manifests(DEPLOY), [])
    existing = live(first.manifests, "2024-05-01T10:00:00Z")
    again = apply_versions(parse_manifests(DEPLOY), existing)
    assert [(a.name, a.reused) for a in again.assignments] == [("settings-v000", True), ("api-v000", True)]
    assert again.manifests == first.manifests

    changed = parse_manifests(DEPLOY.replace("mode: fast", "mode: safe"))
    second = apply_versions(changed, existing)
    assert [(a.name, a.reused) for a in second.assignments] == [("settings-v001", False), ("api-v001", False)]
    worker = second.manifests[2]
    assert (
        worker["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"]
        == "settings-v001"
    )

    # Rolling back to the first content reuses the first versions: configuration comes back too.
    both = existing + live(second.manifests, "2024-05-02T10:00:00Z")
    back = apply_versions(parse_manifests(DEPLOY), both)
    assert [(a.name, a.reused) for a in back.assignments] == [("settings-v000", True), ("api-v000", True)]


def test_versioned_hash_ignores_run_annotations_but_not_content() -> None:
    [config] = parse_manifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '1'}\n")
    noisy = copy.deepcopy(config)
    noisy["metadata"]["name"] = "c-v003"
    noisy["metadata"]["annotations"] = {"delivery.airflow.apache.org/run-id": "run-2"}
    assert versioned_content_hash(noisy) == versioned_content_hash(config)
    noisy["metadata"]["annotations"]["team"] = "x"
    assert versioned_content_hash(noisy) != versioned_content_hash(config)


def test_apply_versions_with_deployments_and_other_namespaces() -> None:
    manifests = parse_manifests(DEPLOY)
    existing = [
        obj("worker-v004", "2024-01-01T00:00:00Z", kind="Deployment", namespace="prod"),
        obj("worker-v008", "2024-01-01T00:00:00Z", kind="Deployment", namespace="staging"),
        obj("worker-v006", "2024-01-01T00:00:00Z", kind="ReplicaSet", namespace="prod"),
    ]
    result = apply_versions(manifests, existing, versioned_kinds={"ConfigMap", "Deployment"})
    assert result.name_of("Deployment", "worker", "prod") == "worker-v005"
    deployment = result.manifests[2]
    assert deployment["spec"]["selector"]["matchLabels"][VERSION_LABEL] == "v005"
    assert result.manifests[1]["metadata"]["name"] == "api"  # ReplicaSet not in versioned_kinds


def test_apply_versions_rejects_names_that_already_carry_a_version() -> None:
    manifests = parse_manifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings-v001}\n")
    with pytest.raises(VersioningError, match="already ends in a version suffix"):
        apply_versions(manifests, [])


def test_apply_versions_pod() -> None:
    manifests = parse_manifests(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: x}]}\n"
    )
    [pod] = apply_versions(manifests, []).manifests
    assert pod["metadata"]["name"] == "p-v000" and pod["metadata"]["labels"][VERSION_LABEL] == "v000"
    assert "selector" not in pod["spec"]
