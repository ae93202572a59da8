"""Helpers of the operator tests: manifests, rollouts driven to a known history, DAG runs and their XComs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook
from airflow_delivery.kubernetes.stability import assess
from tests.integration.stages.support import xcom
from tests.support import wait_until


def deployment(name: str = "web", image: str = "example.com/web:v1", replicas: int = 2, *,
               labels: dict[str, str] | None = None, progress_deadline: int | None = None,
               **pod_spec: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "app", "image": image}], **pod_spec}},
    }
    if progress_deadline is not None:
        spec["progressDeadlineSeconds"] = progress_deadline
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name, **(labels or {})}}, "spec": spec}


def replicaset(name: str, image: str = "example.com/web:v1", replicas: int = 1) -> dict[str, Any]:
    """A bare ReplicaSet, e.g. one version ``web-v001`` of a versioned cluster."""
    labels = {"app": name.rsplit("-v", 1)[0], "version": name}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}


def wait_stable(hook: DeliveryKubernetesHook, kind: str, name: str, timeout: float = 30) -> dict[str, Any]:
    """The object once ``stability.assess`` calls it stable."""
    return wait_until(lambda: (obj := hook.get(kind, name)) and assess(obj).stable and obj, timeout=timeout,
                      message=f"{kind} {name} to be stable")


def roll_out(hook: DeliveryKubernetesHook, name: str, images: list[str], replicas: int = 2) -> dict[str, Any]:
    """Apply a Deployment once per image, each rollout stable before the next: revisions 1..len(images)."""
    obj: dict[str, Any] = {}
    for image in images:
        hook.server_side_apply(deployment(name, image, replicas))
        obj = wait_stable(hook, "Deployment", name)  # stable includes "the new generation was observed"
    return obj


def image_of(obj: dict[str, Any]) -> str:
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


@dataclass
class Run:
    """A finished ``dag.test()`` run: its state, the task's state and the task's XCom (also on failure)."""

    state: str
    task_state: str
    value: Any
    dag_run: Any = field(repr=False, default=None)


def run_dag(dags: dict[str, Any], dag_id: str, task_id: str, **conf: Any) -> Run:
    dag_run = dags[dag_id].test(run_conf=conf or None)
    ti = dag_run.get_task_instance(task_id)
    try:
        value = xcom(dag_run, task_id)
    except AssertionError:
        value = None
    return Run(str(dag_run.state), str(ti.state), value, dag_run)


class RecordingTaskInstance:
    """What ``execute``/``execute_complete`` read from ``context["ti"]`` when called directly, XComs recorded."""

    def __init__(self, dag_id: str = "direct", task_id: str = "task", run_id: str = "manual__1",
                 try_number: int = 1) -> None:
        self.dag_id, self.task_id, self.run_id, self.try_number, self.map_index = dag_id, task_id, run_id, try_number, -1
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def context(**ti: Any) -> dict[str, Any]:
    return {"ti": RecordingTaskInstance(**ti)}
