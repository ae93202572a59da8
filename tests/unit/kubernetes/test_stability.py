"""Rollout stability by kind, and failure explanations.

Covered: every branch of the Deployment, StatefulSet, DaemonSet, ReplicaSet, Job and Pod checks
(generation not observed, counts short, old replicas left, deadline exceeded, paused, OnDelete,
partitions, Job Complete/Failed/suspended, Pod phases and terminal waiting reasons), kinds without
a rollout, and ``explain_failure`` choosing the telling reason: image pull errors, crash loops,
OOM kills, config errors, failing readiness, Job backoff limit, progress deadline, unschedulable
pods, events of unrelated objects ignored, newest event first.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_delivery.kubernetes.stability import FailureExplanation, Stability, assess, explain_failure


def deployment(
    replicas: int = 3,
    generation: int = 2,
    observed: int = 2,
    updated: int = 3,
    ready: int = 3,
    available: int = 3,
    total: int | None = None,
    conditions: list[dict] | None = None,
    paused: bool = False,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": replicas}
    if paused:
        spec["paused"] = True
    return {
        "kind": "Deployment",
        "metadata": {"name": "api", "generation": generation},
        "spec": spec,
        "status": {
            "observedGeneration": observed,
            "replicas": updated if total is None else total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "conditions": conditions or [],
        },
    }


DEADLINE = {
    "type": "Progressing",
    "status": "False",
    "reason": "ProgressDeadlineExceeded",
    "message": 'ReplicaSet "api-5d8f" has timed out progressing.',
}


@pytest.mark.parametrize(
    ("workload", "state", "fragment"),
    [
        (deployment(), "stable", "3 of 3 replicas updated, ready and available"),
        (deployment(observed=1), "progressing", "observe generation 2 (observed 1)"),
        (deployment(updated=1, ready=1, available=1), "progressing", "1 of 3 replicas updated"),
        (deployment(total=5), "progressing", "2 old replicas pending termination"),
        (deployment(ready=2), "progressing", "2 of 3 updated replicas ready"),
        (deployment(available=2), "progressing", "2 of 3 updated replicas available"),
        (
            deployment(updated=1, conditions=[DEADLINE]),
            "failed",
            'ProgressDeadlineExceeded: ReplicaSet "api-5d8f"',
        ),
        (deployment(updated=0, paused=True), "stable", "paused"),
        (deployment(replicas=0, updated=0, ready=0, available=0), "stable", "0 of 0"),
    ],
)
def test_deployment(workload: dict, state: str, fragment: str) -> None:
    verdict = assess(workload)
    assert verdict.state == state and fragment in verdict.reason
    assert verdict.kind == "Deployment" and verdict.name == "api"


def test_deployment_defaults_to_one_replica_and_missing_status() -> None:
    assert (
        assess({"kind": "Deployment", "metadata": {"name": "a"}, "spec": {}}).reason
        == "0 of 1 replicas updated"
    )


def statefulset(**status: Any) -> dict[str, Any]:
    spec = status.pop("spec", {"replicas": 3})
    base = {
        "observedGeneration": 1,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "updatedReplicas": 3,
        "currentRevision": "r2",
        "updateRevision": "r2",
    }
    return {
        "kind": "StatefulSet",
        "metadata": {"name": "db", "generation": 1},
        "spec": spec,
        "status": {**base, **status},
    }


@pytest.mark.parametrize(
    ("workload", "state", "fragment"),
    [
        (statefulset(), "stable", "3 of 3 replicas ready at the current revision"),
        (statefulset(observedGeneration=0), "progressing", "observe generation"),
        (statefulset(readyReplicas=1), "progressing", "1 of 3 replicas ready"),
        (statefulset(availableReplicas=2), "progressing", "2 of 3 replicas available"),
        (
            statefulset(currentRevision="r1", updatedReplicas=1),
            "progressing",
            "1 of 3 replicas at revision r2",
        ),
        (
            statefulset(spec={"replicas": 3, "updateStrategy": {"type": "OnDelete"}}, readyReplicas=0),
            "stable",
            "OnDelete",
        ),
        (
            statefulset(
                spec={"replicas": 3, "updateStrategy": {"rollingUpdate": {"partition": 2}}}, updatedReplicas=0
            ),
            "progressing",
            "0 of 1 replicas above partition 2",
        ),
        (
            statefulset(
                spec={"replicas": 3, "updateStrategy": {"rollingUpdate": {"partition": 2}}},
                updatedReplicas=1,
                currentRevision="r1",
            ),
            "stable",
            "partitioned rollout done",
        ),
    ],
)
def test_statefulset(workload: dict, state: str, fragment: str) -> None:
    verdict = assess(workload)
    assert verdict.state == state and fragment in verdict.reason


def daemonset(**status: Any) -> dict[str, Any]:
    spec = status.pop("spec", {})
    base = {
        "observedGeneration": 4,
        "desiredNumberScheduled": 2,
        "updatedNumberScheduled": 2,
        "numberAvailable": 2,
    }
    return {
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "generation": 4},
        "spec": spec,
        "status": {**base, **status},
    }


@pytest.mark.parametrize(
    ("workload", "state", "fragment"),
    [
        (daemonset(), "stable", "2 of 2 nodes"),
        (daemonset(observedGeneration=3), "progressing", "observe generation 4"),
        (daemonset(updatedNumberScheduled=1), "progressing", "1 of 2 nodes run the updated pod"),
        (daemonset(numberAvailable=0), "progressing", "0 of 2 updated pods available"),
        (
            daemonset(spec={"updateStrategy": {"type": "OnDelete"}}, updatedNumberScheduled=0),
            "stable",
            "OnDelete",
        ),
    ],
)
def test_daemonset(workload: dict, state: str, fragment: str) -> None:
    verdict = assess(workload)
    assert verdict.state == state and fragment in verdict.reason


def replicaset(**status: Any) -> dict[str, Any]:
    base = {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "availableReplicas": 2}
    return {
        "kind": "ReplicaSet",
        "metadata": {"name": "api-v001", "generation": 1},
        "spec": {"replicas": 2},
        "status": {**base, **status},
    }


@pytest.mark.parametrize(
    ("workload", "state", "fragment"),
    [
        (replicaset(), "stable", "2 of 2 replicas ready and available"),
        (replicaset(observedGeneration=0), "progressing", "observe generation"),
        (replicaset(replicas=3), "progressing", "1 extra replicas pending termination"),
        (replicaset(readyReplicas=0), "progressing", "0 of 2 replicas ready"),
        (replicaset(availableReplicas=1), "progressing", "1 of 2 replicas available"),
        (
            replicaset(
                conditions=[
                    {
                        "type": "ReplicaFailure",
                        "status": "True",
                        "reason": "FailedCreate",
                        "message": "exceeded quota: compute",
                    }
                ]
            ),
            "failed",
            "exceeded quota",
        ),
    ],
)
def test_replicaset(workload: dict, state: str, fragment: str) -> None:
    verdict = assess(workload)
    assert verdict.state == state and fragment in verdict.reason


def job(conditions: list[dict] | None = None, **status: Any) -> dict[str, Any]:
    return {
        "kind": "Job",
        "metadata": {"name": "migrate"},
        "spec": {"completions": 1},
        "status": {"conditions": conditions or [], **status},
    }


BACKOFF = {
    "type": "Failed",
    "status": "True",
    "reason": "BackoffLimitExceeded",
    "message": "Job has reached the specified backoff limit",
}


@pytest.mark.parametrize(
    ("workload", "state", "fragment"),
    [
        (job([{"type": "Complete", "status": "True"}], succeeded=1), "stable", "completed (1 succeeded)"),
        (
            job([BACKOFF], failed=7),
            "failed",
            "BackoffLimitExceeded: Job has reached the specified backoff limit",
        ),
        (
            job([{"type": "Failed", "status": "False"}], active=1),
            "progressing",
            "0 of 1 completions, 1 active",
        ),
        (job([{"type": "Suspended", "status": "True"}]), "progressing", "suspended"),
        (job(active=1), "progressing", "0 of 1 completions, 1 active, 0 failed"),
    ],
)
def test_job(workload: dict, state: str, fragment: str) -> None:
    verdict = assess(workload)
    assert verdict.state == state and fragment in verdict.reason


def pod(
    phase: str = "Running",
    ready: bool = True,
    statuses: list[dict] | None = None,
    name: str = "api-5d8f-x1",
    **status: Any,
) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"name": name},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": statuses or [],
            **status,
        },
    }


def waiting(reason: str, message: str = "", name: str = "api", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "ready": False,
        "image": "registry.example.com/team/api:v9",
        "state": {"waiting": {"reason": reason, "message": message}},
        **extra,
    }


@pytest.mark.parametrize(
    ("workload", "state", "fragment"),
    [
        (pod(), "stable", "running and ready"),
        (pod("Succeeded", ready=False), "stable", "ran to completion"),
        (
            pod("Failed", ready=False, reason="Evicted", message="low on memory"),
            "failed",
            "Evicted low on memory",
        ),
        (
            pod("Pending", ready=False, statuses=[waiting("InvalidImageName", "bad ref")]),
            "failed",
            "InvalidImageName: bad ref",
        ),
        (
            pod("Pending", ready=False, statuses=[waiting("ImagePullBackOff")]),
            "progressing",
            "api: ImagePullBackOff",
        ),
        (pod("Running", ready=False), "progressing", "phase Running, not ready yet"),
        ({"kind": "Pod", "metadata": {"name": "p"}}, "progressing", "phase Pending"),
    ],
)
def test_pod(workload: dict, state: str, fragment: str) -> None:
    verdict = assess(workload)
    assert verdict.state == state and fragment in verdict.reason


@pytest.mark.parametrize("kind", ["Service", "ConfigMap", "CronJob", "VirtualService"])
def test_kinds_without_rollout_are_stable(kind: str) -> None:
    verdict = assess({"kind": kind, "metadata": {"name": "x"}})
    assert verdict.stable and verdict.done and not verdict.failed and "no rollout" in verdict.reason


def test_verdict_helpers() -> None:
    failed = Stability("failed", "boom", "Job", "j")
    assert failed.failed and failed.done and not failed.stable
    assert str(failed) == "Job 'j' failed: boom"
    assert not Stability("progressing", "x").done


# ---------------------------------------------------------------------------------------------- explain_failure


def event(
    reason: str,
    message: str,
    name: str = "api-5d8f-x1",
    kind: str = "Pod",
    at: str = "2024-05-01T10:00:00Z",
    type_: str = "Warning",
    count: int = 1,
) -> dict[str, Any]:
    return {
        "type": type_,
        "reason": reason,
        "message": message,
        "count": count,
        "lastTimestamp": at,
        "involvedObject": {"kind": kind, "name": name},
    }


STUCK = deployment(updated=1, ready=0, available=0, conditions=[DEADLINE])


def test_image_pull_error_beats_the_deadline() -> None:
    pods = [
        pod(
            "Pending",
            ready=False,
            statuses=[
                waiting("ImagePullBackOff", 'Back-off pulling image "registry.example.com/team/api:v9"')
            ],
        )
    ]
    events = [event("Failed", 'Failed to pull image "registry.example.com/team/api:v9": not found')]
    explanation = explain_failure(STUCK, pods, events)
    assert explanation.reason == "ImagePullBackOff"
    assert explanation.message.startswith("Deployment 'api': the image cannot be pulled")
    assert "registry.example.com/team/api:v9" in explanation.message
    assert any("Failed to pull image" in line for line in explanation.evidence)
    assert str(explanation).count("\n  - ") == len(explanation.evidence)


def test_crash_loop_reports_exit_code_and_restarts() -> None:
    status = waiting(
        "CrashLoopBackOff",
        "back-off 5m0s",
        restartCount=6,
        lastState={"terminated": {"exitCode": 137, "reason": "Error"}},
    )
    explanation = explain_failure(STUCK, [pod(ready=False, statuses=[status])])
    assert explanation.reason == "CrashLoopBackOff"
    assert "keeps crashing (last exit code 137, reason Error), 6 restarts" in explanation.message


def test_oom_killed() -> None:
    status = {
        "name": "api",
        "ready": False,
        "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
    }
    assert explain_failure(STUCK, [pod(ready=False, statuses=[status])]).reason == "OOMKilled"


def test_config_error() -> None:
    status = waiting("CreateContainerConfigError", 'configmap "settings" not found')
    explanation = explain_failure(STUCK, [pod("Pending", ready=False, statuses=[status])])
    assert (
        explanation.reason == "CreateContainerConfigError"
        and 'configmap "settings" not found' in explanation.message
    )


def test_failing_readiness_uses_the_probe_event() -> None:
    running = {"name": "api", "ready": False, "state": {"running": {"startedAt": "2024-05-01T10:00:00Z"}}}
    events = [event("Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503")]
    explanation = explain_failure(STUCK, [pod(ready=False, statuses=[running])], events)
    assert explanation.reason == "ReadinessProbeFailed"
    assert "running but not ready" in explanation.message and "statuscode: 503" in explanation.message


def test_job_backoff_limit_with_pod_evidence() -> None:
    failed_pod = pod(
        "Failed",
        ready=False,
        name="migrate-abc",
        statuses=[{"name": "m", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}],
    )
    explanation = explain_failure(job([BACKOFF], failed=7), [failed_pod])
    assert explanation.reason == "BackoffLimitExceeded"
    assert "backoffLimit reached" in explanation.message
    assert any("exited with code 2" in line for line in explanation.evidence)


def test_progress_deadline_when_nothing_else_is_known() -> None:
    explanation = explain_failure(STUCK)
    assert explanation.reason == "ProgressDeadlineExceeded"
    assert 'progressDeadlineSeconds: ReplicaSet "api-5d8f" has timed out progressing.' in explanation.message


def test_image_pull_seen_only_in_events() -> None:
    events = [
        event("BackOff", 'Back-off pulling image "nginx:nope"'),
        event("Pulling", "Pulling image", type_="Normal"),
    ]
    explanation = explain_failure(STUCK, [], events)
    assert explanation.reason == "ImagePullBackOff" and "nginx:nope" in explanation.message


def test_crash_loop_seen_only_in_events() -> None:
    events = [event("BackOff", "Back-off restarting failed container api in pod api-5d8f-x1", count=12)]
    explanation = explain_failure(STUCK, [], events)
    assert explanation.reason == "CrashLoopBackOff" and "(x12)" in explanation.message


def test_unschedulable_pods() -> None:
    pending = pod("Pending", ready=False)
    pending["status"]["conditions"].append(
        {"type": "PodScheduled", "status": "False", "message": "0/3 nodes are available: insufficient cpu"}
    )
    explanation = explain_failure(STUCK, [pending])
    assert explanation.reason == "Unschedulable" and "insufficient cpu" in explanation.message


def test_unrelated_and_normal_events_are_ignored_and_newest_wins() -> None:
    events = [
        event("Failed", 'Failed to pull image "other"', name="someone-else-123"),
        event("Unhealthy", "Liveness probe failed: timeout", at="2024-05-01T09:00:00Z"),
        event("FailedMount", 'MountVolume.SetUp failed for volume "cfg"', at="2024-05-01T11:00:00Z"),
        event("ScalingReplicaSet", "Scaled up", name="api", kind="Deployment", type_="Normal"),
    ]
    explanation = explain_failure(STUCK, [], events)
    assert explanation.reason == "FailedMount" and "MountVolume.SetUp failed" in explanation.message
    assert all("someone-else" not in line for line in explanation.evidence)
    assert len(explanation.evidence) == 2


def test_replica_failure_and_plain_not_stable() -> None:
    quota = replicaset(
        conditions=[
            {
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreate",
                "message": "exceeded quota",
            }
        ]
    )
    assert explain_failure(quota).reason == "FailedCreate"
    slow = deployment(ready=1, available=1)
    explanation = explain_failure(slow)
    assert explanation == FailureExplanation(
        "NotStable", "Deployment 'api' is progressing: 1 of 3 updated replicas ready", ()
    )
    assert str(explanation) == explanation.message


def test_events_api_v1_shape_with_regarding_and_note() -> None:
    events = [
        {
            "type": "Warning",
            "reason": "Failed",
            "note": "Error: ErrImagePull",
            "eventTime": "2024-05-01T10:00:00Z",
            "regarding": {"kind": "Pod", "name": "api-5d8f-x1"},
        }
    ]
    assert explain_failure(STUCK, [], events).reason == "ErrImagePull"


def test_events_with_mixed_timestamp_shapes_sort_newest_first() -> None:
    from datetime import datetime

    events = [
        {
            **event("FailedMount", "old mount problem"),
            "lastTimestamp": datetime(2024, 5, 1, 9, 0),
        },  # naive: UTC
        {
            **event("FailedMount", "newest mount problem"),
            "lastTimestamp": None,
            "metadata": {"creationTimestamp": "2024-05-01T11:00:00"},
        },
        {**event("FailedMount", "undated"), "lastTimestamp": "not a time"},
        {**event("FailedMount", "middle"), "lastTimestamp": "2024-05-01T10:00:00+00:00"},
    ]
    explanation = explain_failure(STUCK, [], events)
    assert "newest mount problem" in explanation.message
    assert [line.split(": ")[-1] for line in explanation.evidence] == [
        "newest mount problem",
        "middle",
        "old mount problem",
        "undated",
    ]
