"""Manifest parsing, validation and edits.

Covered: multi-document streams (empty documents, ``kind: List``), every validation failure with the
document and field it names, duplicate keys, timestamps kept as strings, namespace override on
namespaced kinds only, delivery labels/annotations (valid label values), the canonical content hash,
and walking containers and images of every workload kind. Inputs are never mutated.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_delivery.kubernetes.manifests import (
    APP_LABEL,
    ARTIFACTS_ANNOTATION,
    MANAGED_BY_LABEL,
    RUN_ANNOTATION,
    DocumentRef,
    ManifestError,
    all_images,
    content_hash,
    dump_manifests,
    images,
    is_namespaced,
    is_valid_label_value,
    is_valid_qualified_name,
    iter_containers,
    label_value,
    load_manifest_file,
    load_yaml_documents,
    manifest_id,
    parse_manifests,
    pod_spec,
    split_secrets,
    validate_manifests,
    with_delivery_metadata,
    with_namespace,
)

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      initContainers: [{name: migrate, image: registry.example.com/team/api-migrate:v1}]
      containers:
      - {name: api, image: registry.example.com/team/api:v1}
      - {name: proxy, image: envoyproxy/envoy:v1.30.0}
"""


def pod_template(kind: str, image: str) -> dict:
    spec = {"containers": [{"name": "c", "image": image}]}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}
    if kind == "CronJob":
        return {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "cj"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": spec}}}},
        }
    api = "batch/v1" if kind == "Job" else "apps/v1"
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": kind.lower()},
        "spec": {"template": {"spec": spec}},
    }


# ---------------------------------------------------------------------------------------------- parsing


def test_parses_multi_document_stream_and_skips_empty_documents() -> None:
    text = (
        "---\n"
        + DEPLOYMENT
        + "---\n# only a comment\n---\napiVersion: v1\nkind: Service\nmetadata: {name: api}\n"
    )
    manifests = parse_manifests(text)
    assert [m["kind"] for m in manifests] == ["Deployment", "Service"]


def test_list_documents_are_flattened() -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
        "- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n"
    )
    assert [m["metadata"]["name"] for m in parse_manifests(text)] == ["a", "b"]


def test_list_item_errors_name_the_item() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMapList\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {}}\n"
    )
    with pytest.raises(ManifestError) as info:
        parse_manifests(text, source="lists.yaml")
    assert "lists.yaml, document 1 (line 1) item 2 ConfigMap: metadata.name: is missing" in str(info.value)


def test_list_items_must_be_a_list() -> None:
    with pytest.raises(ManifestError, match="items: must be a list"):
        parse_manifests("apiVersion: v1\nkind: List\nitems: {a: 1}\n")


def test_timestamps_stay_strings_so_manifests_stay_json() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {released: 2024-05-01, at: 2024-05-01T10:00:00Z}\n"
    manifest = parse_manifests(text)[0]
    assert manifest["data"] == {"released": "2024-05-01", "at": "2024-05-01T10:00:00Z"}
    json.dumps(manifest)  # would raise for date objects


def test_duplicate_keys_are_rejected_with_both_lines() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n"
    with pytest.raises(ManifestError) as info:
        parse_manifests(text, source="dup.yaml")
    message = str(info.value)
    assert "dup.yaml" in message and "duplicate key 'name'" in message and "first at line 4" in message


def test_invalid_yaml_names_source_document_line_and_column() -> None:
    text = DEPLOYMENT + "---\napiVersion: v1\nkind: Service\nmetadata: {name: [unclosed\n"
    with pytest.raises(ManifestError) as info:
        parse_manifests(text, source="svc.yaml")
    problem = info.value.problems[0]
    assert problem.document.source == "svc.yaml" and problem.document.number == 2
    assert "invalid YAML at line" in problem.message and "column" in problem.message


def test_tab_indentation_is_a_yaml_error_not_a_crash() -> None:
    with pytest.raises(ManifestError, match="invalid YAML"):
        parse_manifests("apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: a\n")


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        ("kind: ConfigMap\nmetadata: {name: a}\n", "apiVersion", "is missing"),
        ("apiVersion: 7\nkind: ConfigMap\nmetadata: {name: a}\n", "apiVersion", "is not an API version"),
        (
            "apiVersion: apps/v1/extra\nkind: ConfigMap\nmetadata: {name: a}\n",
            "apiVersion",
            "is not an API version",
        ),
        ("apiVersion: v1\nmetadata: {name: a}\n", "kind", "is missing"),
        ("apiVersion: v1\nkind: configMap\nmetadata: {name: a}\n", "kind", "CamelCase"),
        ("apiVersion: v1\nkind: ConfigMap\n", "metadata", "is missing"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: [a]\n", "metadata", "must be a mapping"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "metadata.name", "is missing"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 12}\n", "metadata.name", "must be a string"),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a/b}\n",
            "metadata.name",
            "not a valid object name",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: Bad_NS}\n",
            "metadata.namespace",
            "not a valid namespace",
        ),
        (
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, namespace: b}\n",
            "metadata.namespace",
            "cluster-scoped",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: [x]}\n",
            "metadata.labels",
            "must be a mapping",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {v: 1}}\n",
            "metadata.labels.v",
            "must be a string",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {v: 'a b'}}\n",
            "metadata.labels.v",
            "not a valid label value",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {'bad key!': x}}\n",
            "metadata.labels.bad key!",
            "not a valid label key",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, annotations: {n: 3}}\n",
            "metadata.annotations.n",
            "must be a string",
        ),
    ],
)
def test_each_invalid_field_is_named(text: str, field: str, fragment: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifests(text, source="bad.yaml")
    [problem] = info.value.problems
    assert problem.field == field
    assert fragment in problem.message
    assert str(problem).startswith("bad.yaml, document 1")


def test_a_document_that_is_not_a_mapping_is_named() -> None:
    with pytest.raises(ManifestError, match=r"document 2 \(line 5\): expected a mapping .* found a list"):
        parse_manifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n- 1\n- 2\n")


def test_every_problem_is_reported_and_nothing_is_returned() -> None:
    text = (
        DEPLOYMENT
        + "---\nkind: Service\nmetadata: {name: s}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"
    )
    with pytest.raises(ManifestError) as info:
        parse_manifests(text, source="all.yaml")
    assert [(p.document.number, p.field) for p in info.value.problems] == [
        (2, "apiVersion"),
        (3, "metadata.name"),
    ]
    assert "2 invalid manifests" in str(info.value)
    assert "all.yaml, document 2 (line 15) Service 's': apiVersion: is missing" in str(info.value)


def test_generate_name_is_accepted_only_when_allowed() -> None:
    text = "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: smoke-}\n"
    with pytest.raises(ManifestError, match="metadata.name: is missing"):
        parse_manifests(text)
    assert parse_manifests(text, allow_generate_name=True)[0]["metadata"]["generateName"] == "smoke-"


def test_extra_cluster_scoped_kinds_can_be_declared() -> None:
    text = "apiVersion: example.com/v1\nkind: Tenant\nmetadata: {name: t, namespace: x}\n"
    assert parse_manifests(text)[0]["metadata"]["namespace"] == "x"
    with pytest.raises(ManifestError, match="Tenant is cluster-scoped"):
        parse_manifests(text, cluster_scoped_kinds=["Tenant"])


def test_load_manifest_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
    with pytest.raises(ManifestError, match=f"{path}, document 1"):
        load_manifest_file(path)
    with pytest.raises(ManifestError, match="cannot read manifest file"):
        load_manifest_file(tmp_path / "missing.yaml")
    path.write_text(DEPLOYMENT)
    assert load_manifest_file(path)[0]["kind"] == "Deployment"


def test_validate_manifests_accepts_plain_dicts_and_copies_them() -> None:
    original = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}
    [validated] = validate_manifests([original], source="inline")
    validated["data"]["k"] = "changed"
    assert original["data"]["k"] == "v"
    with pytest.raises(ManifestError, match="inline, document 2: expected a mapping"):
        validate_manifests([original, "text"], source="inline")


def test_load_yaml_documents_reports_start_lines() -> None:
    documents = load_yaml_documents("a: 1\n---\n\n\nb: 2\n", source="s")
    assert [(ref.number, ref.line) for ref, _ in documents] == [(1, 1), (2, 5)]


def test_document_ref_text() -> None:
    assert (
        str(DocumentRef(3, "f.yaml", 10, "Deployment", "api"))
        == "f.yaml, document 3 (line 10) Deployment 'api'"
    )
    assert str(DocumentRef(1)) == "document 1"


# ---------------------------------------------------------------------------------------------- identity & hash


def test_content_hash_is_stable_under_key_order_and_sensitive_to_content() -> None:
    a = [{"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "a"}, "data": {"x": "1", "y": "2"}}]
    b = [{"metadata": {"name": "a"}, "data": {"y": "2", "x": "1"}, "apiVersion": "v1", "kind": "ConfigMap"}]
    assert content_hash(a) == content_hash(b)
    assert content_hash(a).startswith("sha256:") and len(content_hash(a)) == 7 + 64
    changed = copy.deepcopy(a)
    changed[0]["data"]["x"] = "2"
    assert content_hash(changed) != content_hash(a)
    assert content_hash(a + b) != content_hash(a)


def test_content_hash_is_the_same_in_another_process() -> None:
    manifests = parse_manifests(DEPLOYMENT)
    code = (
        "import json,sys; from airflow_delivery.kubernetes.manifests import content_hash; "
        "print(content_hash(json.loads(sys.stdin.read())))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(manifests),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == content_hash(manifests)


def test_manifest_id_and_namespacing() -> None:
    assert (
        manifest_id({"kind": "Deployment", "metadata": {"name": "api", "namespace": "prod"}})
        == "Deployment prod/api"
    )
    assert manifest_id({"kind": "Namespace", "metadata": {"name": "prod"}}) == "Namespace prod"
    assert (
        not is_namespaced("ClusterRole") and is_namespaced("Deployment") and is_namespaced("VirtualService")
    )
    assert not is_namespaced("Tenant", ["Tenant"])


def test_dump_manifests_round_trips() -> None:
    manifests = parse_manifests(DEPLOYMENT + "---\napiVersion: v1\nkind: Service\nmetadata: {name: api}\n")
    assert parse_manifests(dump_manifests(manifests)) == manifests


def test_split_secrets() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    assert split_secrets([secret, config]) == ([config], [secret])


# ---------------------------------------------------------------------------------------------- edits


def test_namespace_override_sets_namespaced_kinds_only_and_does_not_mutate() -> None:
    manifests = parse_manifests(
        DEPLOYMENT
        + "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: old}\n"
    )
    before = copy.deepcopy(manifests)
    result = with_namespace(manifests, "staging")
    assert [m["metadata"].get("namespace") for m in result] == ["staging", None, "staging"]
    assert manifests == before


@pytest.mark.parametrize("bad", ["", "Staging", "a_b", "x" * 64, "-a"])
def test_namespace_override_rejects_invalid_names(bad: str) -> None:
    with pytest.raises(ValueError, match="namespace override"):
        with_namespace([], bad)


def test_delivery_metadata_labels_annotations_and_pod_template() -> None:
    manifests = parse_manifests(DEPLOYMENT + "---\napiVersion: v1\nkind: Service\nmetadata: {name: api}\n")
    before = copy.deepcopy(manifests)
    result = with_delivery_metadata(
        manifests,
        app="Shop API (EU)",
        pipeline="deploy-api",
        run_id="manual__2024-05-01T10:00:00+00:00",
        stage="deploy",
        artifacts={"api": "registry.example.com/team/api:v2"},
    )
    assert manifests == before
    deployment, service = result
    labels = deployment["metadata"]["labels"]
    assert labels[MANAGED_BY_LABEL] == "airflow-delivery"
    assert is_valid_label_value(labels[APP_LABEL])
    annotations = deployment["metadata"]["annotations"]
    assert annotations[RUN_ANNOTATION] == "manual__2024-05-01T10:00:00+00:00"
    assert json.loads(annotations[ARTIFACTS_ANNOTATION]) == {"api": "registry.example.com/team/api:v2"}
    template_meta = deployment["spec"]["template"]["metadata"]
    assert (
        template_meta["labels"]["app"] == "api"
        and template_meta["labels"][MANAGED_BY_LABEL] == "airflow-delivery"
    )
    assert "annotations" not in template_meta  # run-specific data would roll the pods on every run
    assert "spec" not in service  # no pod template to label on a Service
    # The result is still valid (labels are valid label values).
    validate_manifests(result)


def test_delivery_metadata_creates_missing_pod_template_metadata_and_needs_app() -> None:
    job = pod_template("Job", "busybox")
    [labelled] = with_delivery_metadata([job], app="smoke")
    assert labelled["spec"]["template"]["metadata"]["labels"][APP_LABEL] == "smoke"
    cron = with_delivery_metadata([pod_template("CronJob", "busybox")], app="x")[0]
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"][APP_LABEL] == "x"
    pod = with_delivery_metadata([pod_template("Pod", "busybox")], app="x")[0]
    assert pod["metadata"]["labels"][APP_LABEL] == "x" and "metadata" not in pod["spec"]
    with pytest.raises(ValueError, match="app is empty"):
        with_delivery_metadata([job], app="")


@pytest.mark.parametrize(
    "text", ["api", "Shop API (EU)", "a" * 80, "-leading-and-trailing-", "ünïcode/näme", "..", "x" * 63 + "!"]
)
def test_label_value_is_always_valid(text: str) -> None:
    assert is_valid_label_value(label_value(text))


def test_label_value_keeps_valid_values_and_separates_different_inputs() -> None:
    assert label_value("api-v2") == "api-v2"
    assert label_value("a b") != label_value("a-b") and label_value("a b") != label_value("a_b")
    long_a, long_b = "x" * 70 + "a", "x" * 70 + "b"
    assert label_value(long_a) != label_value(long_b)


def test_qualified_names() -> None:
    assert is_valid_qualified_name("app.kubernetes.io/name")
    assert is_valid_qualified_name("delivery.airflow.apache.org/run-id")
    assert not is_valid_qualified_name("/name") and not is_valid_qualified_name("Bad_Prefix/name")
    assert not is_valid_qualified_name("x" * 64)


# ---------------------------------------------------------------------------------------------- containers & images


@pytest.mark.parametrize(
    "kind", ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"]
)
def test_every_workload_kind_yields_its_images(kind: str) -> None:
    manifest = pod_template(kind, "registry.example.com/team/api:v1")
    assert images(manifest) == ["registry.example.com/team/api:v1"]
    assert pod_spec(manifest) is not None


def test_iter_containers_includes_init_containers_with_paths() -> None:
    [manifest] = parse_manifests(DEPLOYMENT)
    refs = list(iter_containers(manifest))
    assert [(r.container_list, r.container, r.path) for r in refs] == [
        ("initContainers", "migrate", "spec.template.spec.initContainers[0]"),
        ("containers", "api", "spec.template.spec.containers[0]"),
        ("containers", "proxy", "spec.template.spec.containers[1]"),
    ]
    assert str(refs[1]) == "Deployment 'api' container 'api' (spec.template.spec.containers[0])"


def test_images_are_distinct_and_non_workloads_have_none() -> None:
    manifest = pod_template("Deployment", "nginx:1")
    manifest["spec"]["template"]["spec"]["containers"].append({"name": "d", "image": "nginx:1"})
    assert images(manifest) == ["nginx:1"]
    assert images({"kind": "Service", "spec": {}}) == []
    assert all_images([manifest, pod_template("Pod", "busybox")]) == ["nginx:1", "busybox"]


def test_malformed_pod_specs_are_skipped_not_crashed() -> None:
    assert images({"kind": "Deployment", "spec": {"template": "oops"}}) == []
    assert (
        images({"kind": "Deployment", "spec": {"template": {"spec": {"containers": ["x", {"name": "n"}]}}}})
        == []
    )
