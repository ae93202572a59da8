"""``WaitForStableTrigger`` against the sandbox, through the real asynchronous Kubernetes client.

Aspects: a rollout that completes; a broken image failing with the image-pull reason taken from the
cluster (as ``failed`` when the progress deadline passes, as ``timeout`` when the stage's deadline comes
first); pods that never get ready; Jobs that complete and fail; a target that never appears; an API
error that waiting cannot fix; faults during the wait (500s outlasting the hook's retries, latency,
dropped watches) that still end in the right state; end events (task ends in the triggerer) and
``resume_not_before``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent, TriggerEvent

from airflow_delivery.hooks.kubernetes import DeliveryKubernetesHook
from airflow_delivery.triggers.stable import WaitForStableTrigger
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.deploy.workloads import config_map, deployment, job

pytestmark = pytest.mark.integration

WORKLOAD = {"kind": "Deployment", "name": "web", "namespace": "default"}


def deadline_in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def first_event(trigger: WaitForStableTrigger, timeout: float = 60) -> TriggerEvent:
    async def go() -> TriggerEvent:
        return await asyncio.wait_for(trigger.run().asend(None), timeout=timeout)

    return asyncio.run(go())


def wait(k8s_conn: str, targets: list[dict[str, Any]], *, seconds: float = 30, **options: Any) -> dict[str, Any]:
    trigger = WaitForStableTrigger(targets=targets, kubernetes_conn_id=k8s_conn, deadline=deadline_in(seconds),
                                   poll_interval=0.1, result={"from": "operator"}, **options)
    event = first_event(trigger, timeout=seconds + 30)
    assert type(event) is TriggerEvent
    return dict(event.payload)


def test_completed_rollout_is_success(hook: DeliveryKubernetesHook, k8s_conn: str) -> None:
    hook.apply_all([config_map(), deployment(replicas=3)])
    result = wait(k8s_conn, [WORKLOAD, {"kind": "ConfigMap", "name": "web-config", "namespace": "default"}])
    assert result["status"] == "success" and result["failure_reason"] is None
    assert result["from"] == "operator"  # the operator's result travels through the trigger
    report = result["stable"]["Deployment/default/web"]
    assert report["state"] == "stable" and report["reason"] == "3 of 3 replicas updated, ready and available"
    assert result["stable"]["ConfigMap/default/web-config"]["state"] == "stable"
    live = hook.get("Deployment", "web")["status"]
    assert live["readyReplicas"] == 3  # the cluster agrees


def test_broken_image_fails_at_the_progress_deadline_with_the_pull_error(
        hook: DeliveryKubernetesHook, k8s_conn: str) -> None:
    hook.apply_all([deployment(image="registry.example.com/web:broken", progress_deadline=1)])
    result = wait(k8s_conn, [WORKLOAD])
    assert result["status"] == "failed"
    assert result["failure_reason"] in ("ImagePullBackOff", "ErrImagePull")
    assert "the image cannot be pulled" in result["reason"] and "registry.example.com/web:broken" in result["reason"]
    failure = result["stable"]["Deployment/default/web"]["failure"]
    assert failure["reason"] == result["failure_reason"]
    assert any("ProgressDeadlineExceeded" in line or "pull" in line.lower() for line in failure["evidence"])


def test_broken_image_times_out_at_the_stage_deadline_with_the_pull_error(
        hook: DeliveryKubernetesHook, k8s_conn: str) -> None:
    hook.apply_all([deployment(image="web:broken")])  # progress deadline 600 s: the stage deadline comes first
    result = wait(k8s_conn, [WORKLOAD], seconds=2)
    assert result["status"] == "timeout"
    assert result["failure_reason"] in ("ImagePullBackOff", "ErrImagePull")
    assert result["reason"].startswith("not stable by the deadline")
    assert result["stable"]["Deployment/default/web"]["state"] == "progressing"


def test_pods_never_ready_fail_with_the_readiness_reason(hook: DeliveryKubernetesHook, k8s_conn: str) -> None:
    hook.apply_all([deployment(image="web:unready", progress_deadline=1)])
    result = wait(k8s_conn, [WORKLOAD])
    assert result["status"] == "failed"
    assert result["failure_reason"] == "ReadinessProbeFailed"
    assert "never became ready" in result["reason"]


def test_jobs_complete_or_fail(hook: DeliveryKubernetesHook, k8s_conn: str) -> None:
    hook.apply_all([job("ok"), job("bad", image="busybox:fails")])
    ok = wait(k8s_conn, [{"kind": "Job", "name": "ok", "namespace": "default"}])
    assert ok["status"] == "success" and "completed" in ok["stable"]["Job/default/ok"]["reason"]
    bad = wait(k8s_conn, [{"kind": "Job", "name": "bad", "namespace": "default"}])
    assert bad["status"] == "failed" and bad["failure_reason"] == "BackoffLimitExceeded"


def test_a_target_that_never_appears_times_out_saying_so(k8s_conn: str) -> None:
    result = wait(k8s_conn, [{"kind": "Deployment", "name": "ghost", "namespace": "default"}], seconds=0.5)
    assert result["status"] == "timeout"
    assert result["stable"]["Deployment/default/ghost"]["state"] == "missing"
    assert "does not exist" in result["reason"]


def test_an_error_waiting_cannot_fix_fails_at_once(k8s_conn: str) -> None:
    started = datetime.now(UTC)
    result = wait(k8s_conn, [{"kind": "Rollout", "name": "web", "namespace": "default",
                              "api_version": "argoproj.io/v1alpha1"}], seconds=30)
    assert result["status"] == "failed"
    assert "no resource for kind Rollout" in result["reason"] or "not served" in result["reason"]
    assert datetime.now(UTC) - started < timedelta(seconds=20)


def test_server_errors_outlasting_the_hook_retries_still_end_in_success(
        hook: DeliveryKubernetesHook, k8s_conn: str, sandbox: SandboxHandle) -> None:
    hook.apply_all([deployment()])
    # More 500s than one poll's retries (3 attempts): several polls fail before the reads get through.
    sandbox.inject(action="error", status=500, verb="get", resource="deployments", name="web", times=8)
    result = wait(k8s_conn, [WORKLOAD])
    assert result["status"] == "success"
    assert sandbox.faults() == []  # every injected error was hit


def test_server_errors_until_the_deadline_end_as_timeout_with_the_error(
        hook: DeliveryKubernetesHook, k8s_conn: str, sandbox: SandboxHandle) -> None:
    hook.apply_all([deployment()])
    sandbox.inject(action="error", status=503, verb="get", resource="deployments", name="web")
    result = wait(k8s_conn, [WORKLOAD], seconds=1.5)
    assert result["status"] == "timeout"
    assert result["stable"]["Deployment/default/web"]["state"] == "unknown"
    assert "HTTP 503" in result["reason"]


def test_latency_and_dropped_watches_during_the_wait(
        hook: DeliveryKubernetesHook, k8s_conn: str, sandbox: SandboxHandle) -> None:
    sandbox.inject(action="latency", delay=0.3, verb="get", resource="deployments", times=5)
    sandbox.inject(action="drop_watch", resource="deployments", after_events=0)
    hook.apply_all([deployment(replicas=3)])
    result = wait(k8s_conn, [WORKLOAD])
    assert result["status"] == "success"


@pytest.mark.parametrize("broken", [False, True])
def test_end_events_carry_the_result_as_xcom(hook: DeliveryKubernetesHook, k8s_conn: str, broken: bool) -> None:
    hook.apply_all([deployment(image="web:broken" if broken else "web:1", progress_deadline=1)])
    trigger = WaitForStableTrigger(targets=[WORKLOAD], kubernetes_conn_id=k8s_conn, deadline=deadline_in(30),
                                   poll_interval=0.1, result={"strategy": "rolling"}, end_from_trigger=True)
    event = first_event(trigger)
    assert isinstance(event, TaskFailedEvent if broken else TaskSuccessEvent)
    xcom = event.xcoms["return_value"]
    assert xcom["strategy"] == "rolling" and xcom["status"] == ("failed" if broken else "success")


def test_resume_not_before_holds_the_event_back(hook: DeliveryKubernetesHook, k8s_conn: str) -> None:
    hook.apply_all([config_map()])
    not_before = datetime.now(UTC) + timedelta(seconds=1)
    result = wait(k8s_conn, [{"kind": "ConfigMap", "name": "web-config", "namespace": "default"}],
                  resume_not_before=not_before.isoformat())
    assert result["status"] == "success"
    assert datetime.now(UTC) >= not_before
