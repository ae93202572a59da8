"""Spec validation of the manifest stages (``patch``, ``scale``, ``delete``, ``undo_rollout``,
``find_artifacts``, ``run_job``, ``script``): valid stages parse, each mistake names the file, line and
field, and the operators the valid ones build carry their options.
"""

from __future__ import annotations

import pytest

from airflow_delivery.pipeline.loader import PipelineFileError, parse_pipeline_text

PATH = "pipelines/p.yaml"

VALID = """\
name: p
stages:
  - {id: find, type: find_artifacts, target: deployment web, account: prod}
  - id: patch
    type: patch
    target: {kind: Deployment, name: web, namespace: prod}
    patch_body: {spec: {template: {spec: {containers: [{name: sidecar, image: "envoy:1.30"}]}}}}
  - {id: json, type: patch, target: service web, patch_type: json, patch_body: [{op: replace, path: /spec/selector/v, value: b}]}
  - {id: templ, type: patch, target: "{{ params.target }}", patch_body: "{{ params.patch }}"}
  - {id: scale, type: scale, target: {kind: ReplicaSet, cluster: web, criteria: largest}, replicas: 0}
  - {id: del, type: delete, target: {kind: ReplicaSet, cluster: web, criteria: oldest}, missing_ok: true}
  - {id: dell, type: delete, kinds: [Deployment, Service], label_selector: {track: canary}, propagation: Foreground}
  - {id: undo, type: undo_rollout, target: deployment web, revisions_back: 2, timeout: 10m}
  - id: job
    type: run_job
    cleanup: true
    manifest:
      apiVersion: batch/v1
      kind: Job
      metadata: {generateName: migrate-}
      spec: {template: {spec: {containers: [{name: m, image: "migrate:{{ params.version }}"}]}}}
  - {id: filejob, type: run_job, manifest_file: jobs/smoke.yaml, wait_for_completion: false}
  - id: smoke
    type: script
    image: registry.example.com/tools:1.4
    command: [sh, -c]
    args: ["./smoke.sh && echo DELIVERY_OUTPUT '{\\"ok\\": true}'"]
    env: {TARGET_URL: "https://web.prod"}
    secret_env: {API_TOKEN: {secret: smoke-creds, key: token}}
    deadline: 5m
"""


def errors_of(stages: str) -> list[str]:
    with pytest.raises(PipelineFileError) as info:
        parse_pipeline_text("name: p\nstages:\n" + stages, PATH)
    return [str(e) for e in info.value.errors]


def test_valid_manifest_stages_parse_and_build() -> None:
    from airflow_delivery.pipeline.factory import build_dag

    spec = parse_pipeline_text(VALID, PATH)
    assert [s.type for s in spec.stages] == ["find_artifacts", "patch", "patch", "patch", "scale", "delete", "delete",
                                             "undo_rollout", "run_job", "run_job", "script"]
    dag = build_dag(spec)
    find = dag.get_task("find")
    assert (type(find).__name__, find.kubernetes_conn_id) == ("FindArtifactsFromResourceOperator", "prod")
    assert dag.get_task("patch").patch_type == "strategic" and dag.get_task("json").patch_type == "json"
    undo = dag.get_task("undo")
    assert (undo.revisions_back, undo.stable_timeout.total_seconds(), undo.execution_timeout.total_seconds()) == \
        (2, 600, 600)
    assert dag.get_task("dell").label_selector == {"track": "canary"}
    smoke = dag.get_task("smoke")
    assert (type(smoke).__name__, smoke.cleanup, smoke.output_container) == ("RunJobOperator", True, "script")
    container = smoke.manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [
        {"name": "TARGET_URL", "value": "https://web.prod"},
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "smoke-creds", "key": "token"}}}]
    assert smoke.manifest["metadata"] == {"generateName": "smoke-"}
    assert smoke.manifest["spec"]["activeDeadlineSeconds"] == 300 and smoke.manifest["spec"]["backoffLimit"] == 0


@pytest.mark.parametrize(("stages", "expected"), [
    ("  - {id: f, type: find_artifacts, target: web}\n", (f"{PATH}:3: stages[0].target: target 'web': "
                                                        "write 'KIND NAME'")),
    ("  - {id: f, type: find_artifacts, target: {kind: ReplicaSet, cluster: web, criteria: latest}}\n",
     "criteria 'latest' must be one of newest, second_newest, oldest, largest, smallest"),
    ("  - {id: f, type: find_artifacts, target: deployment web, account: ''}\n", "stages[0].account"),
    ("  - {id: p, type: patch, target: deployment web, patch_body: [{op: add, path: /x, value: 1}]}\n",
     "a strategic patch is a mapping"),
    ("  - {id: p, type: patch, target: deployment web, patch_type: json, patch_body: {spec: {}}}\n",
     "a json patch is a list of operations"),
    ("  - {id: p, type: patch, target: deployment web, patch_body: 'spec: {replicas: 1}'}\n",
     "write the patch as a mapping"),
    ("  - {id: p, type: patch, target: deployment web, patch_body: {}}\n", "the patch is empty"),
    ("  - {id: p, type: patch, target: deployment web, patch_type: xml, patch_body: {a: 1}}\n", "stages[0].patch_type"),
    ("  - {id: s, type: scale, target: service web, replicas: 1}\n", "cannot scale a Service"),
    ("  - {id: s, type: scale, target: deployment web, replicas: -1}\n", "replicas cannot be negative"),
    ("  - {id: s, type: scale, target: deployment web, replicas: many}\n", "'many' is not a number of replicas"),
    ("  - {id: d, type: delete}\n", "give either target (one object) or kinds + label_selector"),
    ("  - {id: d, type: delete, kinds: [Service], label_selector: {}}\n", "label_selector is empty"),
    ("  - {id: d, type: delete, kinds: [Service], label_selector: '  '}\n", "label_selector is empty"),
    ("  - {id: d, type: delete, label_selector: app=web}\n", "label_selector needs kinds"),
    ("  - {id: d, type: delete, target: deployment web, kinds: [Service]}\n", "kinds only applies with label_selector"),
    ("  - {id: d, type: delete, target: deployment web, propagation: Cascade}\n", "stages[0].propagation"),
    ("  - {id: u, type: undo_rollout, target: deployment web, revision: 2, revisions_back: 1}\n",
     "give revisions_back or revision, not both"),
    ("  - {id: u, type: undo_rollout, target: deployment web, revisions_back: 0}\n", "stages[0].revisions_back"),
    ("  - {id: u, type: undo_rollout, target: replicaset web-v001}\n", "cannot undo the rollout of a ReplicaSet"),
    ("  - {id: j, type: run_job}\n", "give exactly one of manifest (inline) or manifest_file"),
    ("  - {id: j, type: run_job, manifest: {apiVersion: apps/v1, kind: Deployment}}\n",
     "kind is 'Deployment': run_job runs a kind: Job manifest"),
    (("  - {id: j, type: run_job, manifest: {apiVersion: batch/v1, kind: Job, spec: {template: {spec: "
     "{containers: [{name: a}]}}}}}\n"), "spec.template.spec.containers[0].image is missing"),
    (("  - {id: j, type: run_job, manifest: {apiVersion: batch/v1, kind: Job, spec: {template: {spec: "
     "{containers: [{name: a, image: b}]}}}}}\n"), "neither metadata.name nor metadata.generateName"),
    ("  - {id: j, type: run_job, manifest_file: j.yaml, cleanup: true, wait_for_completion: false}\n",
     "cleanup deletes the Job after it succeeded"),
    ("  - {id: s, type: script, image: 'Bad Image'}\n", "invalid image reference"),
    ("  - {id: s, type: script, image: busybox, env: {DB_PASSWORD: hunter2}}\n",
     "env: DB_PASSWORD looks like a credential; pipeline files hold no secrets"),
    ("  - {id: s, type: script, image: busybox, env: {1X: a}}\n", "'1X' is not an environment variable name"),
    ("  - {id: s, type: script, image: busybox, env: {A: b}, secret_env: {A: {secret: s, key: k}}}\n",
     "A is set in both env and secret_env"),
    ("  - {id: s, type: script, image: busybox, secret_env: {T: {secret: s}}}\n", "stages[0].secret_env.T.key"),
    ("  - {id: s, type: script, image: busybox, deadline: 0}\n", "deadline must be at least 1 second"),
    ("  - {id: s, type: script, image: busybox, run: 'import os'}\n", "stages[0].run"),
])
def test_mistakes_name_the_field(stages: str, expected: str) -> None:
    errors = errors_of(stages)
    assert any(expected in e for e in errors), errors
