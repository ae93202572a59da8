"""DAGs for the manifest operator tests (a DAG bundle of their own, parsed by ``dag.test()``).

Each DAG runs one operator on the sandbox through the ``k8s_sandbox`` connection the tests define.
Arguments come from the run's conf and render as native objects, so one DAG covers many scenarios.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG

from airflow_delivery.operators.delete import DeleteManifestOperator
from airflow_delivery.operators.find_artifacts import FindArtifactsFromResourceOperator
from airflow_delivery.operators.patch import PatchManifestOperator
from airflow_delivery.operators.run_job import RunJobOperator
from airflow_delivery.operators.scale import ScaleManifestOperator
from airflow_delivery.operators.undo import UndoRolloutOperator

CONN_ID = "k8s_sandbox"
START = datetime(2024, 1, 1, tzinfo=UTC)
TIMEOUT = timedelta(seconds=60)
COMMON = {"kubernetes_conn_id": CONN_ID, "request_timeout": 10.0}
# Short, so an injected slow answer times out and is retried (the "impatient" DAGs).
IMPATIENT = {"kubernetes_conn_id": CONN_ID, "request_timeout": 1.0}


def conf(key: str) -> str:
    return "{{ dag_run.conf['" + key + "'] }}"


def scenario(dag_id: str) -> DAG:
    return DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False, tags=["test"],
               render_template_as_native_obj=True)


for patch_type in ("strategic", "merge", "json"):
    with scenario(f"patch_{patch_type}") as dag:
        PatchManifestOperator(task_id="patch", target=conf("target"), patch=conf("patch"), patch_type=patch_type,
                              timeout=TIMEOUT, **COMMON)
    globals()[dag.dag_id] = dag

with scenario("patch_impatient") as patch_impatient:
    PatchManifestOperator(task_id="patch", target=conf("target"), patch=conf("patch"), timeout=TIMEOUT, **IMPATIENT)

with scenario("scale_impatient") as scale_impatient:
    ScaleManifestOperator(task_id="scale", target=conf("target"), replicas=conf("replicas"), timeout=TIMEOUT,
                          **IMPATIENT)

with scenario("delete_impatient") as delete_impatient:
    DeleteManifestOperator(task_id="delete", target=conf("target"), **IMPATIENT)

with scenario("scale") as scale:
    ScaleManifestOperator(task_id="scale", target=conf("target"), replicas=conf("replicas"), timeout=TIMEOUT,
                          **COMMON)

with scenario("delete_target") as delete_target:
    DeleteManifestOperator(task_id="delete", target=conf("target"), propagation="Foreground", **COMMON)

with scenario("delete_target_missing_ok") as delete_target_missing_ok:
    DeleteManifestOperator(task_id="delete", target=conf("target"), missing_ok=True, **COMMON)

with scenario("delete_label") as delete_label:
    DeleteManifestOperator(task_id="delete", kinds=["Deployment", "ConfigMap"], label_selector=conf("selector"),
                           **COMMON)

with scenario("undo_back") as undo_back:
    UndoRolloutOperator(task_id="undo", target=conf("target"), revisions_back=conf("back"), timeout=TIMEOUT,
                        **COMMON)

with scenario("undo_to_revision") as undo_to_revision:
    UndoRolloutOperator(task_id="undo", target=conf("target"), revision=conf("revision"), timeout=TIMEOUT,
                        **COMMON)

with scenario("find_artifacts") as find_artifacts:
    FindArtifactsFromResourceOperator(task_id="find", target=conf("target"), **COMMON)

with scenario("run_job") as run_job:
    RunJobOperator(task_id="job", manifest=conf("manifest"), timeout=TIMEOUT, **COMMON)

with scenario("run_job_cleanup") as run_job_cleanup:
    RunJobOperator(task_id="job", manifest=conf("manifest"), cleanup=True, timeout=TIMEOUT, **COMMON)
