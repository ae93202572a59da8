"""The "Done when" story of issue 4, as a pipeline file run with ``dag.test()`` against the sandbox:
bake -> deploy (red/black) -> wait for stable -> find artifacts -> undo rollout.

Two releases go through the same pipeline. Release 1 (``v1``) bakes the app, deploys ``web-v000``
red/black and switches the Service to it; the undo stage is skipped (its ``when`` is false). Release 2
(``v2``, new configuration) deploys ``web-v001`` beside it, moves the traffic once it is stable,
finds the images and configuration the newest version runs, and rolls the un-versioned worker back to
its previous revision (release 1's image and configuration).
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook
from airflow_delivery.kubernetes.versioning import VERSION_LABEL
from tests.integration.deploy.dagtest import parse_dags

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

IMAGE = "registry.example.com/web"


def run_story(**conf: Any) -> tuple[Any, dict[str, Any]]:
    dag_run = parse_dags()["deploy_story"].test(run_conf=conf)
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    return dag_run, states


def xcom(dag_run: Any, task_id: str) -> Any:
    return dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id)


def container(hook: DeliveryKubernetesHook, name: str) -> dict[str, Any]:
    return hook.get("Deployment", name)["spec"]["template"]["spec"]["containers"][0]


def test_bake_deploy_redblack_wait_find_artifacts_undo(deploy_dags: dict, hook: DeliveryKubernetesHook) -> None:
    dag_run, states = run_story(artifacts={"web": "v1"}, greeting="hello")
    assert states == {"bake": "success", "deploy": "success", "wait": "success", "find": "success",
                      "undo": "skipped"}, states
    assert hook.get("Service", "web")["spec"]["selector"][VERSION_LABEL] == "v000"
    assert container(hook, "web-v000")["image"] == f"{IMAGE}:v1"
    assert container(hook, "web-worker")["image"] == f"{IMAGE}:v1"

    dag_run, states = run_story(artifacts={"web": "v2"}, greeting="bonjour", undo_worker=True)
    assert states == {"bake": "success", "deploy": "success", "wait": "success", "find": "success",
                      "undo": "success"}, states

    # Bake: the template rendered with this run's values; the deploy applied exactly that.
    baked = xcom(dag_run, "bake")
    assert [m["kind"] for m in baked["manifests"]] == ["ConfigMap", "Deployment", "Service", "Deployment"]
    deployed = xcom(dag_run, "deploy")
    assert deployed["strategy"] == "redblack" and deployed["artifacts"] == {"web": f"{IMAGE}:v2"}
    assert sorted(a["name"] for a in deployed["applied"]) == ["web", "web-config-v001", "web-v001", "web-worker"]

    # Red/black: the new version took the traffic, the old one is kept for a rollback.
    assert deployed["traffic"][0]["previous"] == "v000" and deployed["traffic"][0]["version"] == "v001"
    assert hook.get("Service", "web")["spec"]["selector"][VERSION_LABEL] == "v001"
    assert sorted(d["metadata"]["name"] for d in hook.list("Deployment")) == ["web-v000", "web-v001", "web-worker"]
    assert hook.get("ConfigMap", "web-config-v001")["data"] == {"greeting": "bonjour"}

    # Wait: the stand-alone stage saw every workload of the deploy stable.
    waited = xcom(dag_run, "wait")
    assert waited["status"] == "success"
    assert {k: v["state"] for k, v in waited["stable"].items()} == {
        "ConfigMap/default/web-config-v001": "stable", "Deployment/default/web-v001": "stable",
        "Service/default/web": "stable", "Deployment/default/web-worker": "stable"}

    # Find artifacts: the newest version's image and the configuration it reads.
    found = xcom(dag_run, "find")
    assert [i["reference"] for i in found["images"]] == [f"{IMAGE}:v2"]
    assert [c["name"] for c in found["config_maps"]] == ["web-config-v001"]

    # Undo rollout: the worker is back on release 1's template (image and versioned configuration).
    undone = xcom(dag_run, "undo")
    assert undone["changed"] is True and undone["status"] == "success"
    worker = container(hook, "web-worker")
    assert worker["image"] == f"{IMAGE}:v1"
    assert worker["envFrom"][0]["configMapRef"]["name"] == "web-config-v000"
    assert hook.get("ConfigMap", "web-config-v000")["data"] == {"greeting": "hello"}
