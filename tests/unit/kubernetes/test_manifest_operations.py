"""Pure helpers of the manifest stages: targets, rollout history and undo, live artifacts, Job outputs.

Aspects: target forms and their errors; dynamic resolution; revisions read from owned ReplicaSets, the
revision chosen N back or by number (and the errors listing what exists); the undo merge patch
reproduces the old template and is idempotent; image/ConfigMap/Secret extraction; Job names unique per
identity and within 63 characters; Spinnaker's and our output lines, and bad JSON naming the line; and
none of these modules imports Airflow or the Kubernetes client.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from typing import Any

import pytest

from airflow_delivery.kubernetes import jobs, resource_artifacts, rollout
from airflow_delivery.kubernetes.targets import ManifestTarget, TargetError, TargetNotFoundError

# --- targets ---------------------------------------------------------------------------------------


def test_target_forms() -> None:
    assert ManifestTarget.parse("deployment web") == ManifestTarget(kind="Deployment", name="web")
    assert ManifestTarget.parse("replicaSet api-v002").kind == "ReplicaSet"
    assert ManifestTarget.parse("VirtualService web").kind == "VirtualService"
    dynamic = ManifestTarget.parse({"kind": "replicaset", "cluster": "api", "criteria": "oldest"}, namespace="prod")
    assert (dynamic.kind, dynamic.namespace, dynamic.dynamic) == ("ReplicaSet", "prod", True)
    assert dynamic.describe() == "the oldest ReplicaSet of cluster 'api' in namespace prod"
    named = ManifestTarget.parse({"kind": "Deployment", "name": "web", "namespace": "a"}, namespace="b")
    assert named.namespace == "a" and ManifestTarget.parse(named.as_dict()) == named


@pytest.mark.parametrize(("spec", "message"), [
    ("web", "write 'KIND NAME'"),
    ({"name": "web"}, "kind is missing"),
    ({"kind": "Deployment"}, "give exactly one of name"),
    ({"kind": "Deployment", "name": "web", "cluster": "web"}, "give exactly one of name"),
    ({"kind": "ReplicaSet", "cluster": "api", "criteria": "latest"}, "criteria 'latest' must be one of newest"),
    ({"kind": "Deployment", "name": "web", "criteria": "newest"}, "criteria only applies with cluster"),
    ({"kind": "Deployment", "name": "web", "nmae": "x"}, "unknown keys ['nmae']"),
    ({"kind": "Deployment", "name": ""}, "name '' must be a non-empty string"),
    (42, "got int"),
])
def test_target_errors(spec: Any, message: str) -> None:
    with pytest.raises(TargetError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ManifestTarget.parse(spec)


def rs(name: str, created: str, replicas: int = 1) -> dict[str, Any]:
    return {"kind": "ReplicaSet", "metadata": {"name": name, "creationTimestamp": created}, "spec": {"replicas": replicas}}


def test_dynamic_resolution_and_nothing_to_resolve() -> None:
    objects = [rs("api-v001", "2024-01-01T00:00:01Z", 3), rs("api-v002", "2024-01-01T00:00:02Z"),
               rs("other-v009", "2024-01-01T00:00:03Z")]
    target = ManifestTarget.parse({"kind": "ReplicaSet", "cluster": "api", "criteria": "second_newest"})
    assert target.resolve(objects)["metadata"]["name"] == "api-v001"
    with pytest.raises(TargetNotFoundError, match="no version of ReplicaSet 'absent' exists"):
        ManifestTarget.parse({"kind": "ReplicaSet", "cluster": "absent", "criteria": "newest"}).resolve(objects)
    with pytest.raises(TargetError, match="not a dynamic target"):
        ManifestTarget.parse("deployment web").resolve(objects)


# --- rollout ---------------------------------------------------------------------------------------

UID = "d-uid"


def template(image: str, hash_: str | None = None) -> dict[str, Any]:
    labels = {"app": "web", **({"pod-template-hash": hash_} if hash_ else {})}
    return {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": image}]}}


def owned_rs(revision: int, image: str, *, owner: str = UID, cause: str | None = None) -> dict[str, Any]:
    annotations = {"deployment.kubernetes.io/revision": str(revision)}
    if cause:
        annotations["kubernetes.io/change-cause"] = cause
    return {"kind": "ReplicaSet", "metadata": {
        "name": f"web-{revision}", "annotations": annotations,
        "ownerReferences": [{"uid": owner, "controller": True, "kind": "Deployment", "name": "web"}]},
        "spec": {"template": template(image, f"h{revision}")}}


def live_deployment(image: str, revision: int) -> dict[str, Any]:
    return {"kind": "Deployment", "metadata": {"name": "web", "namespace": "prod", "uid": UID, "annotations": {
        "deployment.kubernetes.io/revision": str(revision), "kubernetes.io/change-cause": "v3 rollout",
        "team": "payments"}}, "spec": {"template": template(image)}}


HISTORY_RS = [owned_rs(1, "web:v1", cause="first"), owned_rs(2, "web:v2"), owned_rs(3, "web:v3"),
              owned_rs(9, "web:other", owner="someone-else")]


def test_revisions_come_from_owned_replicasets() -> None:
    history = rollout.revisions(live_deployment("web:v3", 3), HISTORY_RS)
    assert [(r.number, r.images) for r in history] == [(1, ["web:v1"]), (2, ["web:v2"]), (3, ["web:v3"])]
    assert "pod-template-hash" not in history[0].template["metadata"]["labels"]
    assert history[0].summary() == {"revision": 1, "replicaset": "web-1", "images": ["web:v1"], "change_cause": "first"}


def test_choose_revision_back_and_by_number() -> None:
    deployment = live_deployment("web:v3", 3)
    history = rollout.revisions(deployment, HISTORY_RS)
    assert rollout.choose_revision(deployment, history, revisions_back=1).number == 2
    assert rollout.choose_revision(deployment, history, revisions_back=2).number == 1
    assert rollout.choose_revision(deployment, history, revision=1).number == 1
    with pytest.raises(rollout.RolloutError, match=r"has no revision 5: the revisions it still has are 1, 2, 3 "
                                                   r"\(current 3\)"):
        rollout.choose_revision(deployment, history, revision=5)
    with pytest.raises(rollout.RolloutError, match="only 2 older revisions exist"):
        rollout.choose_revision(deployment, history, revisions_back=3)
    with pytest.raises(rollout.RolloutError, match="exactly one of revision"):
        rollout.choose_revision(deployment, history)
    with pytest.raises(rollout.RolloutError, match="roll back at least 1 revision"):
        rollout.choose_revision(deployment, history, revisions_back=0)
    # After an undo to v2 (which the controller renumbers 4), "one back" is the v3 template, as in kubectl.
    undone = [owned_rs(1, "web:v1"), owned_rs(3, "web:v3"), owned_rs(4, "web:v2")]
    assert rollout.choose_revision(live_deployment("web:v2", 4), rollout.revisions(
        live_deployment("web:v2", 4), undone), revisions_back=1).images == ["web:v3"]


def apply_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def test_undo_patch_restores_the_template_and_is_idempotent() -> None:
    deployment = live_deployment("web:v3", 3)
    deployment["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "NEW", "value": "1"}]
    chosen = rollout.choose_revision(deployment, rollout.revisions(deployment, HISTORY_RS), revision=1)
    patch = rollout.undo_patch(deployment, chosen)
    once = apply_merge_patch(deployment, patch)
    assert once["spec"]["template"] == template("web:v1")  # the env the old revision lacked is removed
    annotations = once["metadata"]["annotations"]
    assert annotations["kubernetes.io/change-cause"] == "first"  # the old revision's cause comes back
    assert annotations["deployment.kubernetes.io/revision"] == "3"  # bookkeeping stays the Deployment's
    assert "team" not in annotations  # as kubectl: the Deployment's annotations become the revision's
    assert apply_merge_patch(once, patch) == once
    assert rollout.undo_patch(once, chosen) == {}  # already there: nothing to send


# --- live artifacts ----------------------------------------------------------------------------------


def test_artifacts_of_a_workload() -> None:
    found = resource_artifacts.artifacts_of({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "data"},
        "spec": {"template": {"spec": {
            "containers": [{"name": "pg", "image": "postgres:16", "envFrom": [{"secretRef": {"name": "pg-auth"}}]},
                           {"name": "bad", "image": "Not A Reference"}],
            "volumes": [{"name": "c", "configMap": {"name": "pg-conf"}}]}}}})
    assert found["resource"]["kind"] == "StatefulSet" and found["resource"]["namespace"] == "data"
    assert found["images"][0] == {"type": "docker/image", "container": "pg", "reference": "postgres:16",
                                  "repository": "postgres", "tag": "16", "digest": None}
    assert found["images"][1]["repository"] is None and "invalid image reference" in found["images"][1]["error"]
    assert [(c["type"], c["name"]) for c in found["config_maps"] + found["secrets"]] == [
        ("kubernetes/configMap", "pg-conf"), ("kubernetes/secret", "pg-auth")]
    with pytest.raises(resource_artifacts.NotAWorkloadError, match="ConfigMap 'x' has no pod template"):
        resource_artifacts.artifacts_of({"kind": "ConfigMap", "metadata": {"name": "x"}})


# --- jobs ------------------------------------------------------------------------------------------

JOB = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "DB_Migrate-"},
       "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "migrate:1"}]}}}}


def test_job_names_are_unique_per_identity_and_short() -> None:
    base = jobs.base_name(JOB)
    assert base == "db-migrate"
    one, two = jobs.unique_job_name(base, "dag/run1/task/-1/1"), jobs.unique_job_name(base, "dag/run1/task/-1/2")
    assert one != two and one == jobs.unique_job_name(base, "dag/run1/task/-1/1")
    long = jobs.unique_job_name("x" * 100, "id")
    assert len(long) == 63 and long[-9] == "-"
    with pytest.raises(jobs.JobSpecError, match="neither metadata.name nor metadata.generateName"):
        jobs.base_name({"metadata": {}})


def test_prepare_job_sets_the_name_and_labels_without_touching_the_input() -> None:
    job = jobs.prepare_job(JOB, name="db-migrate-12345678", namespace="ops")
    assert job["metadata"]["name"] == "db-migrate-12345678" and "generateName" not in job["metadata"]
    assert job["metadata"]["namespace"] == "ops"
    assert job["spec"]["template"]["metadata"]["labels"][jobs.RUN_LABEL] == "db-migrate-12345678"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert "name" not in JOB["metadata"]
    bad_restart = copy.deepcopy(JOB)
    bad_restart["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    with pytest.raises(jobs.JobSpecError, match="restartPolicy is 'Always'"):
        jobs.prepare_job(bad_restart, name="x", namespace=None)
    with pytest.raises(jobs.JobSpecError, match="apiVersion is 'batch/v2'"):
        jobs.prepare_job({**JOB, "apiVersion": "batch/v2"}, name="x", namespace=None)


def test_outputs_from_log_lines() -> None:
    log = 'noise SPINNAKER_PROPERTY_ not at the start\nSPINNAKER_PROPERTY_IMAGE_TAG=v1.2=rc1 \n  SPINNAKER_CONFIG_JSON={"replicas": 3, "image_tag": "v2"}\nDELIVERY_OUTPUT {"Report": "https://x/y?a=1"}\nSPINNAKER_PROPERTY_EMPTY='
    assert jobs.parse_outputs(log) == {"image_tag": "v2", "replicas": 3, "Report": "https://x/y?a=1", "empty": ""}
    with pytest.raises(jobs.JobOutputError, match=r"pod p, line 1: SPINNAKER_CONFIG_JSON= must be followed by a JSON "
                                                  r"object, got a list"):
        jobs.parse_outputs("SPINNAKER_CONFIG_JSON=[1]", source="pod p")
    with pytest.raises(jobs.JobOutputError, match="line 2: the text after DELIVERY_OUTPUT is not valid JSON"):
        jobs.parse_outputs("ok\nDELIVERY_OUTPUT {nope}")
    assert jobs.log_tail("a\nb\nc\n", 2) == "b\nc"


def test_these_modules_import_neither_airflow_nor_the_kubernetes_client() -> None:
    modules = ["targets", "rollout", "resource_artifacts", "jobs"]
    imports = "; ".join(f"import airflow_delivery.kubernetes.{name}" for name in modules)
    check = ("import sys; print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('airflow', 'kubernetes', 'kubernetes_asyncio')))")
    result = subprocess.run([sys.executable, "-c", f"{imports}; {check}"], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "[]", result.stdout
