"""The manifest stages in a pipeline file, through the real loader and ``dag.test()`` on the sandbox.

One pipeline: find the live image, patch a new one in, scale, undo the patch, run a script Job (its
output read back), and delete temporary objects by label; every stage's XCom is checked, and the
cluster afterwards.
"""

from __future__ import annotations

import pytest

from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook
from tests.integration.operators.conftest import PipelineLoader
from tests.integration.operators.support import image_of, roll_out
from tests.integration.stages.support import states, xcom

pytestmark = pytest.mark.integration

PIPELINE = """\
name: manifest_ops
stages:
  - {id: find, type: find_artifacts, account: k8s_sandbox, target: deployment web}
  - id: bump
    type: patch
    account: k8s_sandbox
    depends_on: [find]
    target: {kind: Deployment, name: web}
    patch_body:
      spec: {template: {spec: {containers: [{name: app, image: "{{ ti.xcom_pull('find')['images'][0]['repository'] }}:v2"}]}}}
    timeout: 1m
  - {id: grow, type: scale, account: k8s_sandbox, depends_on: [bump], target: deployment web, replicas: 3, timeout: 1m}
  - {id: undo, type: undo_rollout, account: k8s_sandbox, depends_on: [grow], target: deployment web, timeout: 1m}
  - id: smoke
    type: script
    account: k8s_sandbox
    depends_on: [undo]
    image: example.com/smoke:1
    command: [sh, -c]
    args: ["echo checking; echo 'DELIVERY_OUTPUT {\\"healthy\\": true}'"]
    timeout: 1m
  - {id: tidy, type: delete, account: k8s_sandbox, depends_on: [smoke], kinds: [ConfigMap], label_selector: {tmp: "yes"}}
"""


def test_manifest_stages_in_one_pipeline(load_pipelines: PipelineLoader, hook: DeliveryKubernetesHook) -> None:
    roll_out(hook, "web", ["example.com/web:v1"])
    hook.server_side_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "scratch",
                                                                                  "labels": {"tmp": "yes"}}})
    dags = load_pipelines(manifest_ops=PIPELINE)
    run = dags["manifest_ops"].test()
    assert states(run) == dict.fromkeys(["find", "bump", "grow", "undo", "smoke", "tidy"], "success"), states(run)
    assert xcom(run, "find")["images"][0]["tag"] == "v1"
    assert xcom(run, "bump")["status"] == "success"
    assert (xcom(run, "grow")["previous_replicas"], xcom(run, "grow")["replicas"]) == (2, 3)
    undo = xcom(run, "undo")
    assert (undo["from_revision"], undo["to_revision"], undo["images"]) == (2, 1, ["example.com/web:v1"])
    smoke = xcom(run, "smoke")
    assert smoke["outputs"] == {"healthy": True} and smoke["cleaned_up"] is True
    assert xcom(run, "tidy")["deleted"] == [{"kind": "ConfigMap", "name": "scratch", "namespace": "default"}]
    live = hook.get("Deployment", "web")
    assert image_of(live) == "example.com/web:v1" and live["status"]["readyReplicas"] == 3
    assert hook.list("Job") == [] or all(j["metadata"].get("deletionTimestamp") for j in hook.list("Job"))
