"""Is a rollout done? Stability by kind, and why a rollout failed, from the cluster's own words.

``assess(workload)`` mirrors ``kubectl rollout status`` and Spinnaker's per-kind checks: the
controller must have observed the latest generation, then the replica counts must line up
(Deployment: updated = ready = available = desired, no old replicas left; StatefulSet, DaemonSet,
ReplicaSet: their own counters), Jobs must complete and Pods must run ready or succeed. A failure is
reported only when Kubernetes itself says so (``ProgressDeadlineExceeded``, a failed Job, a failed
Pod): everything else is "progressing" until the stage's timeout.

``explain_failure(workload, pods, events)`` turns the evidence into one sentence a person can act on
(image pull errors, crash loops, failing readiness probes, exhausted Job retries), because "timed
out waiting for manifest to stabilize" is the most common Spinnaker complaint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

State = Literal["stable", "progressing", "failed"]

# Kinds that roll out; anything else (Service, ConfigMap, ...) is stable once it exists.
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod")
IMAGE_PULL_REASONS = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"})
CONFIG_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError", "RunContainerError"})
# Waiting reasons that never resolve by themselves: fail a Pod at once instead of waiting for the timeout.
TERMINAL_WAITING_REASONS = frozenset({"InvalidImageName", "ErrImageNeverPull"})


@dataclass(frozen=True)
class Stability:
    """The verdict for one workload, with a reason worth showing to a person."""

    state: State
    reason: str
    kind: str = ""
    name: str = ""

    @property
    def stable(self) -> bool:
        return self.state == "stable"

    @property
    def failed(self) -> bool:
        return self.state == "failed"

    @property
    def done(self) -> bool:
        """True once waiting longer cannot change the outcome."""
        return self.state != "progressing"

    def __str__(self) -> str:
        return f"{self.kind} {self.name!r} {self.state}: {self.reason}"


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _conditions(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    status = obj.get("status") or {}
    return {
        str(c.get("type")): c
        for c in status.get("conditions") or []
        if isinstance(c, Mapping) and c.get("type")
    }


def _is_true(condition: Mapping[str, Any] | None) -> bool:
    return condition is not None and str(condition.get("status")) == "True"


def _generation_pending(obj: Mapping[str, Any]) -> str | None:
    generation = _int((obj.get("metadata") or {}).get("generation"), 0)
    observed = _int((obj.get("status") or {}).get("observedGeneration"), 0)
    if generation and observed < generation:
        return f"waiting for the controller to observe generation {generation} (observed {observed})"
    return None


def assess(workload: Mapping[str, Any]) -> Stability:
    """Stable, progressing or failed, by kind (see the module docstring)."""
    kind = str(workload.get("kind", ""))
    name = str((workload.get("metadata") or {}).get("name", ""))
    check = _CHECKS.get(kind)
    if check is None:
        return Stability("stable", f"{kind or 'object'} has no rollout to wait for", kind, name)
    state, reason = check(workload)
    return Stability(state, reason, kind, name)


def _deployment(obj: Mapping[str, Any]) -> tuple[State, str]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    progressing = _conditions(obj).get("Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        message = progressing.get("message") or "progress deadline exceeded"
        return "failed", f"ProgressDeadlineExceeded: {message}"
    pending = _generation_pending(obj)
    if pending:
        return "progressing", pending
    if spec.get("paused"):
        return "stable", "rollout is paused (spec.paused); resume it to continue the rollout"
    desired = _int(spec.get("replicas"), 1)
    updated = _int(status.get("updatedReplicas"))
    replicas = _int(status.get("replicas"))
    available = _int(status.get("availableReplicas"))
    ready = _int(status.get("readyReplicas"))
    if updated < desired:
        return "progressing", f"{updated} of {desired} replicas updated"
    if replicas > updated:
        return "progressing", f"{replicas - updated} old replicas pending termination"
    if ready < updated:
        return "progressing", f"{ready} of {updated} updated replicas ready"
    if available < updated:
        return "progressing", f"{available} of {updated} updated replicas available"
    return "stable", f"{desired} of {desired} replicas updated, ready and available"


def _statefulset(obj: Mapping[str, Any]) -> tuple[State, str]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    pending = _generation_pending(obj)
    if pending:
        return "progressing", pending
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return "stable", "updateStrategy OnDelete: pods change only when deleted"
    desired = _int(spec.get("replicas"), 1)
    ready = _int(status.get("readyReplicas"))
    available = _int(status.get("availableReplicas"), ready)
    partition = _int((strategy.get("rollingUpdate") or {}).get("partition"))
    updated = _int(status.get("updatedReplicas"))
    if ready < desired:
        return "progressing", f"{ready} of {desired} replicas ready"
    if available < desired:
        return "progressing", f"{available} of {desired} replicas available"
    if partition:
        if updated < desired - partition:
            return (
                "progressing",
                f"{updated} of {desired - partition} replicas above partition {partition} updated",
            )
        return "stable", f"partitioned rollout done: {updated} replicas above partition {partition} updated"
    if status.get("updateRevision") and status.get("currentRevision") != status.get("updateRevision"):
        return "progressing", f"{updated} of {desired} replicas at revision {status.get('updateRevision')}"
    return "stable", f"{desired} of {desired} replicas ready at the current revision"


def _daemonset(obj: Mapping[str, Any]) -> tuple[State, str]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    pending = _generation_pending(obj)
    if pending:
        return "progressing", pending
    if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        return "stable", "updateStrategy OnDelete: pods change only when deleted"
    desired = _int(status.get("desiredNumberScheduled"))
    updated = _int(status.get("updatedNumberScheduled"))
    available = _int(status.get("numberAvailable"))
    if updated < desired:
        return "progressing", f"{updated} of {desired} nodes run the updated pod"
    if available < desired:
        return "progressing", f"{available} of {desired} updated pods available"
    return "stable", f"{desired} of {desired} nodes run an available updated pod"


def _replicaset(obj: Mapping[str, Any]) -> tuple[State, str]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    failure = _conditions(obj).get("ReplicaFailure")
    if _is_true(failure):
        assert failure is not None
        return "failed", f"ReplicaFailure ({failure.get('reason', '')}): {failure.get('message', '')}".strip()
    pending = _generation_pending(obj)
    if pending:
        return "progressing", pending
    desired = _int(spec.get("replicas"), 1)
    ready = _int(status.get("readyReplicas"))
    available = _int(status.get("availableReplicas"))
    replicas = _int(status.get("replicas"))
    if replicas > desired:
        return "progressing", f"{replicas - desired} extra replicas pending termination"
    if ready < desired:
        return "progressing", f"{ready} of {desired} replicas ready"
    if available < desired:
        return "progressing", f"{available} of {desired} replicas available"
    return "stable", f"{desired} of {desired} replicas ready and available"


def _job(obj: Mapping[str, Any]) -> tuple[State, str]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    conditions = _conditions(obj)
    failed = conditions.get("Failed")
    if _is_true(failed):
        assert failed is not None
        return "failed", f"{failed.get('reason') or 'Failed'}: {failed.get('message') or 'the Job failed'}"
    if _is_true(conditions.get("Complete")):
        return "stable", f"completed ({_int(status.get('succeeded'))} succeeded)"
    if _is_true(conditions.get("Suspended")):
        return "progressing", "the Job is suspended (spec.suspend)"
    completions = _int(spec.get("completions"), 1)
    return "progressing", (
        f"{_int(status.get('succeeded'))} of {completions} completions, {_int(status.get('active'))} active, "
        f"{_int(status.get('failed'))} failed"
    )


def _pod(obj: Mapping[str, Any]) -> tuple[State, str]:
    status = obj.get("status") or {}
    phase = status.get("phase") or "Pending"
    if phase == "Succeeded":
        return "stable", "the pod ran to completion"
    if phase == "Failed":
        return "failed", f"the pod failed: {status.get('reason') or ''} {status.get('message') or ''}".strip()
    for container in _container_statuses(obj):
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in TERMINAL_WAITING_REASONS:
            return (
                "failed",
                f"container {container.get('name')!r}: {waiting.get('reason')}: {waiting.get('message', '')}",
            )
    if phase == "Running" and _is_true(_conditions(obj).get("Ready")):
        return "stable", "running and ready"
    waiting = [
        f"{c.get('name')}: {((c.get('state') or {}).get('waiting') or {}).get('reason')}"
        for c in _container_statuses(obj)
        if (c.get("state") or {}).get("waiting")
    ]
    return "progressing", f"phase {phase}" + (f" ({', '.join(waiting)})" if waiting else ", not ready yet")


_CHECKS = {
    "Deployment": _deployment,
    "StatefulSet": _statefulset,
    "DaemonSet": _daemonset,
    "ReplicaSet": _replicaset,
    "Job": _job,
    "Pod": _pod,
}


# --------------------------------------------------------------------------------------------
# Explaining a failure


@dataclass(frozen=True)
class FailureExplanation:
    """The most likely cause (``reason``, a Kubernetes reason such as ``ImagePullBackOff``), a
    sentence saying it (``message``) and the supporting evidence, most relevant first."""

    reason: str
    message: str
    evidence: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        if not self.evidence:
            return self.message
        return self.message + "\n" + "\n".join(f"  - {line}" for line in self.evidence)


def _container_statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = pod.get("status") or {}
    return [
        c
        for key in ("initContainerStatuses", "containerStatuses")
        for c in status.get(key) or []
        if isinstance(c, Mapping)
    ]


def _as_time(value: Any) -> datetime | None:
    """A timestamp from the API (RFC 3339 text or a datetime); naive ones are UTC."""
    if isinstance(value, str) and value:
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _event_time(event: Mapping[str, Any]) -> datetime:
    candidates = [event.get(k) for k in ("lastTimestamp", "eventTime", "firstTimestamp")]
    candidates.append((event.get("metadata") or {}).get("creationTimestamp"))
    for value in candidates:
        parsed = _as_time(value)
        if parsed is not None:
            return parsed
    return datetime.min.replace(tzinfo=UTC)


def _relevant_events(
    workload: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], events: Iterable[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """Warning events about the workload, its ReplicaSets (``<name>-<hash>``) or its pods, newest first."""
    name = str((workload.get("metadata") or {}).get("name", ""))
    pod_names = {str((p.get("metadata") or {}).get("name", "")) for p in pods}
    chosen = []
    for event in events:
        involved = str((event.get("involvedObject") or event.get("regarding") or {}).get("name", ""))
        if event.get("type", "Warning") != "Warning":
            continue
        if involved == name or involved in pod_names or (name and involved.startswith(name + "-")):
            chosen.append(event)
    return sorted(chosen, key=_event_time, reverse=True)


def _event_text(event: Mapping[str, Any]) -> str:
    involved = event.get("involvedObject") or event.get("regarding") or {}
    count = _int(event.get("count"), 1)
    times = f" (x{count})" if count > 1 else ""
    message = event.get("message") or event.get("note") or ""
    return (
        f"{involved.get('kind', '')} {involved.get('name', '')}: {event.get('reason', '')}: {message}{times}"
    )


def _pod_findings(pods: Sequence[Mapping[str, Any]]) -> list[tuple[int, str, str]]:
    """(priority, reason, text) for each problem seen in pod statuses; lower priority = more telling."""
    findings: list[tuple[int, str, str]] = []
    for pod in pods:
        pod_name = (pod.get("metadata") or {}).get("name", "?")
        for container in _container_statuses(pod):
            cname = container.get("name", "?")
            state = container.get("state") or {}
            waiting = state.get("waiting") or {}
            reason = waiting.get("reason")
            if reason in IMAGE_PULL_REASONS:
                image = container.get("image", "")
                detail = waiting.get("message") or f"cannot pull image {image!r}"
                findings.append((0, reason, f"pod {pod_name} container {cname!r}: {reason}: {detail}"))
            elif reason == "CrashLoopBackOff":
                last = ((container.get("lastState") or {}).get("terminated")) or {}
                exit_text = (
                    f" (last exit code {last.get('exitCode')}, reason {last.get('reason', 'Error')})"
                    if last
                    else ""
                )
                restarts = _int(container.get("restartCount"))
                findings.append(
                    (
                        1,
                        reason,
                        f"pod {pod_name} container {cname!r} keeps crashing{exit_text}, {restarts} restarts",
                    )
                )
            elif reason in CONFIG_REASONS:
                findings.append(
                    (1, reason, f"pod {pod_name} container {cname!r}: {reason}: {waiting.get('message', '')}")
                )
            terminated = state.get("terminated") or {}
            if terminated.get("reason") == "OOMKilled":
                findings.append(
                    (
                        1,
                        "OOMKilled",
                        f"pod {pod_name} container {cname!r} was killed for using too much memory",
                    )
                )
            elif _int(terminated.get("exitCode")) != 0:
                findings.append(
                    (
                        2,
                        str(terminated.get("reason") or "Error"),
                        f"pod {pod_name} container {cname!r} exited with code {terminated.get('exitCode')}"
                        + (f": {terminated['message']}" if terminated.get("message") else ""),
                    )
                )
            running = state.get("running")
            if running is not None and container.get("ready") is False:
                findings.append(
                    (
                        2,
                        "ReadinessProbeFailed",
                        f"pod {pod_name} container {cname!r} is running but not ready",
                    )
                )
        status = pod.get("status") or {}
        scheduled = _conditions(pod).get("PodScheduled")
        if scheduled is not None and not _is_true(scheduled):
            findings.append(
                (
                    2,
                    "Unschedulable",
                    f"pod {pod_name} cannot be scheduled: {scheduled.get('message', '')}".strip(),
                )
            )
        if status.get("phase") == "Failed" and (status.get("reason") or status.get("message")):
            findings.append(
                (
                    2,
                    str(status.get("reason") or "PodFailed"),
                    f"pod {pod_name} failed: {status.get('message', '')}",
                )
            )
    return findings


_EVENT_REASONS = {
    "Failed": None,  # decided by the message (image pull or other)
    "BackOff": "CrashLoopBackOff",
    "Unhealthy": "ReadinessProbeFailed",
    "FailedScheduling": "Unschedulable",
    "FailedCreate": "FailedCreate",
    "FailedMount": "FailedMount",
    "BackoffLimitExceeded": "BackoffLimitExceeded",
    "DeadlineExceeded": "DeadlineExceeded",
}


def _event_reason(event: Mapping[str, Any]) -> str | None:
    reason = str(event.get("reason", ""))
    message = str(event.get("message") or event.get("note") or "")
    if reason == "Failed" or reason == "BackOff":
        if "pull" in message.lower() or "ImagePullBackOff" in message or "ErrImagePull" in message:
            return (
                "ImagePullBackOff"
                if "back-off" in message.lower() or "BackOff" in message
                else "ErrImagePull"
            )
        return "CrashLoopBackOff" if reason == "BackOff" else "Failed"
    if reason == "Unhealthy" and "liveness" in message.lower():
        return "LivenessProbeFailed"
    return _EVENT_REASONS.get(reason, reason or None)


def explain_failure(
    workload: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]] = (),
    events: Iterable[Mapping[str, Any]] = (),
) -> FailureExplanation:
    """Why ``workload`` is not stable, from its conditions, its pods' container statuses and recent
    Warning events (which may include other objects: only the workload's, its ReplicaSets' and its
    pods' are read). The reason is the most telling finding: an image that cannot be pulled or a
    crashing container explains a progress deadline better than the deadline itself."""
    kind = str(workload.get("kind", ""))
    name = str((workload.get("metadata") or {}).get("name", ""))
    subject = f"{kind} {name!r}"
    conditions = _conditions(workload)
    verdict = assess(workload)
    findings = sorted(_pod_findings(pods), key=lambda f: f[0])
    recent = _relevant_events(workload, pods, events)
    evidence: list[str] = [text for _, _, text in findings]
    evidence.extend(_event_text(e) for e in recent[:5])

    failed_job = conditions.get("Failed") if kind == "Job" else None
    if _is_true(failed_job):
        assert failed_job is not None
        reason = str(failed_job.get("reason") or "JobFailed")
        message = failed_job.get("message") or "the Job failed"
        return FailureExplanation(reason, f"{subject}: {_headline(reason)}: {message}", tuple(evidence))

    if findings and findings[0][0] <= 1:
        _, reason, text = findings[0]
        return FailureExplanation(reason, f"{subject}: {_headline(reason)}: {text}", tuple(evidence))

    for event in recent:
        telling = _event_reason(event)
        if telling in ("ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff", "BackoffLimitExceeded"):
            return FailureExplanation(
                telling, f"{subject}: {_headline(telling)}: {_event_text(event)}", tuple(evidence)
            )

    if findings:
        _, reason, text = findings[0]
        readiness = next((e for e in recent if _event_reason(e) == "ReadinessProbeFailed"), None)
        if readiness is not None and reason == "ReadinessProbeFailed":
            text += f" ({readiness.get('message') or readiness.get('note')})"
        return FailureExplanation(reason, f"{subject}: {_headline(reason)}: {text}", tuple(evidence))

    if recent:
        event = recent[0]
        reason = _event_reason(event) or "Warning"
        return FailureExplanation(
            reason, f"{subject}: {_headline(reason)}: {_event_text(event)}", tuple(evidence)
        )

    progressing = conditions.get("Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return FailureExplanation(
            "ProgressDeadlineExceeded",
            f"{subject}: {_headline('ProgressDeadlineExceeded')}: {progressing.get('message', '')}".rstrip(
                ": "
            ),
            tuple(evidence),
        )
    failure = conditions.get("ReplicaFailure")
    if _is_true(failure):
        assert failure is not None
        reason = str(failure.get("reason") or "ReplicaFailure")
        return FailureExplanation(reason, f"{subject}: {failure.get('message', reason)}", tuple(evidence))
    return FailureExplanation(
        "NotStable" if not verdict.failed else "Failed",
        f"{subject} is {verdict.state}: {verdict.reason}",
        tuple(evidence),
    )


_HEADLINES = {
    "ImagePullBackOff": "the image cannot be pulled (check the image name, the tag and pull credentials)",
    "ErrImagePull": "the image cannot be pulled (check the image name, the tag and pull credentials)",
    "InvalidImageName": "the image reference is invalid",
    "ErrImageNeverPull": "the image is not on the node and imagePullPolicy is Never",
    "CrashLoopBackOff": "a container keeps crashing (check its logs)",
    "OOMKilled": "a container ran out of memory (raise its memory limit)",
    "CreateContainerConfigError": "a container cannot be configured (a missing ConfigMap, Secret or key?)",
    "ReadinessProbeFailed": "pods never became ready (the readiness probe fails)",
    "LivenessProbeFailed": "the liveness probe fails and the container is restarted",
    "Unschedulable": "pods cannot be scheduled",
    "BackoffLimitExceeded": "the Job failed too many times (backoffLimit reached)",
    "DeadlineExceeded": "the Job ran past its activeDeadlineSeconds",
    "ProgressDeadlineExceeded": "the rollout made no progress within progressDeadlineSeconds",
    "FailedCreate": "the controller cannot create pods (quota, admission or a bad pod spec?)",
    "FailedMount": "a volume cannot be mounted",
}


def _headline(reason: str) -> str:
    return _HEADLINES.get(reason, reason)
