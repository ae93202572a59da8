"""``RunJobOperator`` against the sandbox.

Aspects: a Job runs under a per-run name, is waited for (deferred) and its outputs are read from the
log (Spinnaker's ``SPINNAKER_PROPERTY_``/``SPINNAKER_CONFIG_JSON`` lines and our ``DELIVERY_OUTPUT``);
two runs never share a Job; ``cleanup`` deletes a succeeded Job; a failing image fails the task with
the cluster's reason and the end of the log, an image that cannot be pulled times out saying so; an unreadable output line fails naming the line; bad
manifests fail before anything is created; the hook returns logs as text (not ``"b'...'"``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook
from airflow_delivery.kubernetes.errors import NotFoundError
from airflow_delivery.kubernetes.jobs import JobOutputError, JobSpecError
from airflow_delivery.kubernetes.manifests import ManifestError
from airflow_delivery.operators.run_job import JobFailedError, RunJobOperator
from tests.integration.operators.support import context, run_dag
from tests.support import wait_until

pytestmark = pytest.mark.integration

SCRIPT = "echo starting migration\necho SPINNAKER_PROPERTY_SCHEMA_VERSION=42\necho 'SPINNAKER_CONFIG_JSON={\"tables\": 7, \"ok\": true}'\necho 'DELIVERY_OUTPUT {\"url\": \"https://example.com/report?a=1\"}'"


def job(image: str = "example.com/migrate:1", script: str = SCRIPT, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "migrate-"},
            "spec": {"backoffLimit": 0, **spec, "template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "migrate", "image": image, "command": ["sh", "-c", script]}]}}}}


def run_trigger(trigger: Any) -> dict[str, Any]:
    """Run a deferred task's trigger to its first event (against the sandbox), as the triggerer would."""
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first())


def test_outputs_come_from_the_log(operator_dags: dict[str, Any], hook: DeliveryKubernetesHook) -> None:
    first = run_dag(operator_dags, "run_job", "job", manifest=job())
    assert first.task_state == "success", first
    value = first.value
    assert value["status"] == "success"
    assert value["outputs"] == {"schema_version": "42", "tables": 7, "ok": True,
                                "url": "https://example.com/report?a=1"}
    name = value["job"]["name"]
    assert name.startswith("migrate-") and len(value["pods"]) == 1 and value["cleaned_up"] is False
    live = hook.get("Job", name)
    assert live["metadata"]["uid"] == value["job"]["uid"]
    assert any(c["type"] == "Complete" for c in live["status"]["conditions"])
    log = hook.read_pod_logs(value["pods"][0], container="migrate")
    assert log.startswith("starting migration\n")  # text, not the "b'...'" of a bytes repr
    second = run_dag(operator_dags, "run_job", "job", manifest=job())
    assert second.value["job"]["name"] != name  # each run has its own Job


def test_cleanup_deletes_a_succeeded_job(operator_dags: dict[str, Any], hook: DeliveryKubernetesHook) -> None:
    run = run_dag(operator_dags, "run_job_cleanup", "job", manifest=job())
    assert run.task_state == "success", run
    assert run.value["cleaned_up"] is True and run.value["outputs"]["schema_version"] == "42"

    def deleted() -> bool:
        try:
            hook.get("Job", run.value["job"]["name"])
        except NotFoundError:
            return not hook.list("Pod", label_selector=f"job-name={run.value['job']['name']}")
        return False

    wait_until(deleted, timeout=15, message="the Job and its pods to be deleted")


def test_a_failing_image_fails_with_the_reason_and_the_log(operator_dags: dict[str, Any], k8s_conn: str,
                                                           hook: DeliveryKubernetesHook) -> None:
    failing = job("example.com/migrate:fails", "echo connecting to db\necho giving up")
    run = run_dag(operator_dags, "run_job", "job", manifest=failing)
    assert (run.state, run.task_state) == ("failed", "failed")
    assert run.value["status"] == "failed" and run.value["failure_reason"] == "BackoffLimitExceeded"
    hook.get("Job", run.value["job"]["name"])  # kept for inspection, even with cleanup off or on
    # The same, step by step, to read the message the task fails with.
    operator = RunJobOperator(task_id="migrate", kubernetes_conn_id=k8s_conn, manifest=failing, cleanup=True)
    ctx = context(run_id="direct-1")
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(ctx)
    event = run_trigger(deferred.value.trigger)
    with pytest.raises(JobFailedError) as failed:
        operator.execute_complete(ctx, event)
    message = str(failed.value)
    assert message.startswith(f"migrate: Job default/{event['job']['name']} failed: ")
    assert "the Job failed too many times (backoffLimit reached)" in message
    assert "connecting to db\ngiving up" in message
    assert ctx["ti"].xcoms["return_value"]["status"] == "failed"
    hook.get("Job", event["job"]["name"])  # cleanup only after success


def test_a_job_that_cannot_start_times_out_with_the_reason(k8s_conn: str) -> None:
    operator = RunJobOperator(task_id="migrate", kubernetes_conn_id=k8s_conn, timeout=2,
                              manifest=job("example.com/migrate:broken"))
    ctx = context()
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(ctx)
    event = run_trigger(deferred.value.trigger)
    assert event["status"] == "timeout"
    with pytest.raises(JobFailedError, match=r"migrate: Job default/migrate-\w+ did not finish in time: not stable "
                                             r"by the deadline .*the image cannot be pulled"):
        operator.execute_complete(ctx, event)


def test_an_unreadable_output_line_fails_naming_it(k8s_conn: str) -> None:
    operator = RunJobOperator(task_id="report", kubernetes_conn_id=k8s_conn,
                              manifest=job(script="echo ok\necho 'DELIVERY_OUTPUT {broken'"))
    ctx = context()
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(ctx)
    event = run_trigger(deferred.value.trigger)
    assert event["status"] == "success"
    with pytest.raises(JobOutputError, match=r"container 'migrate', line 2: the text after DELIVERY_OUTPUT is not "
                                             r"valid JSON"):
        operator.execute_complete(ctx, event)


def test_bad_manifests_create_nothing(k8s_conn: str, hook: DeliveryKubernetesHook, tmp_path: Any) -> None:
    def run(**arguments: Any) -> None:
        RunJobOperator(task_id="j", kubernetes_conn_id=k8s_conn, **arguments).execute(context())

    with pytest.raises(JobSpecError, match="kind is 'Deployment': run_job runs a kind: Job manifest"):
        run(manifest={**job(), "kind": "Deployment", "apiVersion": "apps/v1"})
    no_image = job()
    del no_image["spec"]["template"]["spec"]["containers"][0]["image"]
    with pytest.raises(JobSpecError, match=r"spec.template.spec.containers\[0\].image is missing"):
        run(manifest=no_image)
    with pytest.raises(ManifestError, match="metadata"):
        run(manifest={"apiVersion": "batch/v1", "kind": "Job", "spec": {}})
    two = tmp_path / "two.yaml"
    two.write_text("apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\n---\napiVersion: batch/v1\nkind: Job\n"
                   "metadata: {name: b}\n")
    with pytest.raises(ValueError, match="j: manifest_file .*two.yaml holds 2 documents; a run_job stage runs exactly "
                                         "one Job"):
        run(manifest_file=str(two))
    with pytest.raises(ValueError, match="give exactly one of manifest"):
        RunJobOperator(task_id="j", manifest=job(), manifest_file=str(two))
    assert hook.list("Job") == []


def test_a_job_from_a_file_without_waiting(k8s_conn: str, hook: DeliveryKubernetesHook, tmp_path: Any) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("apiVersion: batch/v1\nkind: Job\nmetadata: {name: smoke}\nspec:\n  template:\n    spec:\n"
                    "      containers: [{name: s, image: example.com/smoke:1, command: [echo, hi]}]\n")
    result = RunJobOperator(task_id="j", kubernetes_conn_id=k8s_conn, manifest_file=str(path),
                            wait_for_completion=False).execute(context(run_id="r1"))
    assert result["status"] == "started" and result["job"]["name"].startswith("smoke-")
    again = RunJobOperator(task_id="j", kubernetes_conn_id=k8s_conn, manifest_file=str(path),
                           wait_for_completion=False).execute(context(run_id="r1"))
    assert again["job"] == result["job"]  # the same run and try finds its Job instead of starting another
    assert [j["metadata"]["name"] for j in hook.list("Job")] == [result["job"]["name"]]
