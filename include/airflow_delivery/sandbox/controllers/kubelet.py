"""The emulated scheduler + kubelet: pods get a node and an IP, then progress to Running/Ready (or fail)
over time, with the events and container statuses a real kubelet reports.

What a container does is decided by a ``ContainerRuntime``; the default ``EmulatedRuntime`` decides
from configuration and the container's command:

* an image matching ``broken_images`` never pulls (``ErrImagePull``, then ``ImagePullBackOff``);
* an image matching ``unready_images``, or a pod annotated ``sandbox.airflow-delivery.io/ready: "false"``,
  runs but its readiness check fails (Running, not Ready, ``Unhealthy`` events);
* run-to-completion pods (``restartPolicy`` ``Never``/``OnFailure``, e.g. Jobs) terminate after
  ``job_duration`` with the exit code of their emulated command (``exit N``, ``false``) or 1 when the
  image matches ``failing_job_images``;
* log lines come from ``echo``/``printf`` in ``command``/``args`` (also inside ``sh -c`` scripts) and from
  the pod annotation ``sandbox.airflow-delivery.io/logs``.

Later runtimes (real local processes for chosen images) plug in through ``ContainerRuntime``.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import threading
from dataclasses import dataclass, field
from typing import Protocol

from airflow_delivery.sandbox.clock import Clock, rfc3339
from airflow_delivery.sandbox.config import SandboxConfig, image_matches
from airflow_delivery.sandbox.controllers.common import Obj, Resources, deleting, safe_write
from airflow_delivery.sandbox.controllers.events import EventRecorder
from airflow_delivery.sandbox.logs import PodLogs
from airflow_delivery.sandbox.store import ObjectStore

NODE_NAME = "sandbox-node"
READY_ANNOTATION = "sandbox.airflow-delivery.io/ready"
LOGS_ANNOTATION = "sandbox.airflow-delivery.io/logs"
COMPONENT = "kubelet"


@dataclass(frozen=True)
class ContainerPlan:
    """What one container will do once the pod starts."""

    pull_ok: bool = True
    ready: bool = True
    exit_code: int | None = None
    """``None``: keeps running; a number: terminates with it after ``job_duration``."""
    logs: list[str] = field(default_factory=list)


class ContainerRuntime(Protocol):
    def plan(self, pod: Obj, container: Obj) -> ContainerPlan: ...


class EmulatedRuntime:
    """Decides container behaviour from ``SandboxConfig`` patterns and the container's command."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config

    def plan(self, pod: Obj, container: Obj) -> ContainerPlan:
        image = str(container.get("image", ""))
        annotations = pod["metadata"].get("annotations") or {}
        logs, exit_code = emulate_command(list(container.get("command") or []) + list(container.get("args") or []))
        extra = annotations.get(LOGS_ANNOTATION)
        if extra:
            logs = logs + str(extra).splitlines()
        run_to_completion = pod["spec"].get("restartPolicy") in ("Never", "OnFailure")
        if run_to_completion and image_matches(image, self.config.failing_job_images):
            exit_code = exit_code or 1
        return ContainerPlan(
            pull_ok=not image_matches(image, self.config.broken_images),
            ready=not image_matches(image, self.config.unready_images)
            and str(annotations.get(READY_ANNOTATION, "true")).lower() != "false",
            exit_code=exit_code if run_to_completion else None,
            logs=logs,
        )


def emulate_command(argv: list[str]) -> tuple[list[str], int]:
    """Output lines and exit code of a container command, for the few shell idioms manifests use."""
    if not argv:
        return [], 0
    program = argv[0].rsplit("/", 1)[-1]
    if program in ("sh", "bash", "ash", "dash") and "-c" in argv[1:]:
        index = argv.index("-c")
        return _run_script(argv[index + 1] if index + 1 < len(argv) else "")
    return _run_statement(argv)


def _run_script(script: str) -> tuple[list[str], int]:
    output: list[str] = []
    code = 0
    for line in script.splitlines():
        for statement in re.split(r";|&&", line):
            try:
                words = shlex.split(statement, comments=True)
            except ValueError:
                continue
            if not words:
                continue
            if words[0] == "exit":
                return output, int(words[1]) if len(words) > 1 and words[1].isdigit() else code
            lines, code = _run_statement(words)
            output += lines
    return output, code


def _run_statement(words: list[str]) -> tuple[list[str], int]:
    program = words[0].rsplit("/", 1)[-1]
    if program == "echo":
        args = [w for w in words[1:] if w not in ("-n", "-e")]
        return [" ".join(args)], 0
    if program == "printf" and len(words) > 1:
        text = words[1].replace("%s", " ".join(words[2:])) if "%s" in words[1] else words[1]
        return text.replace("\\n", "\n").rstrip("\n").split("\n"), 0
    if program == "false":
        return [], 1
    return [], 0


class Kubelet:
    """Moves pods through their lifecycle. Timers are in-memory (monotonic), keyed by pod uid."""

    def __init__(self, store: ObjectStore, resources: Resources, config: SandboxConfig, clock: Clock,
                 events: EventRecorder, logs: PodLogs, runtime: ContainerRuntime | None = None) -> None:
        self.store = store
        self.resources = resources
        self.config = config
        self.clock = clock
        self.events = events
        self.logs = logs
        self.runtime = runtime or EmulatedRuntime(config)
        self._seen: dict[str, float] = {}
        self._phase: dict[str, str] = {}
        self._lock = threading.Lock()
        self._next_ip = int(ipaddress.IPv4Address("10.244.0.2"))

    def reconcile(self) -> None:
        pods, _ = self.store.list(self.resources.pods)
        live = set()
        for pod in pods:
            uid = pod["metadata"]["uid"]
            live.add(uid)
            if deleting(pod):
                continue
            self._seen.setdefault(uid, self.clock.monotonic())
            self._sync(pod)
        for uid in [u for u in self._seen if u not in live]:
            self._seen.pop(uid, None)
            self._phase.pop(uid, None)
            self.events.forget(uid)

    def _allocate_ip(self) -> str:
        with self._lock:
            ip = str(ipaddress.IPv4Address(self._next_ip))
            self._next_ip += 1
            return ip

    def _sync(self, pod: Obj) -> None:
        md, spec = pod["metadata"], pod["spec"]
        uid = md["uid"]
        if not spec.get("nodeName"):
            pod["spec"]["nodeName"] = NODE_NAME
            scheduled = safe_write(self.store, self.resources.pods, pod, manager="default-scheduler")
            if scheduled is None:
                return
            self.events.record(scheduled, "Normal", "Scheduled",
                               f"Successfully assigned {md['namespace']}/{md['name']} to {NODE_NAME}",
                               "default-scheduler")
            pod = scheduled
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        age = self.clock.monotonic() - self._seen[uid]
        containers = spec.get("containers") or []
        plans = [self.runtime.plan(pod, c) for c in containers]
        now = rfc3339(self.clock.now())
        stage = self._stage(age, plans)
        if self._phase.get(uid) == stage:
            return
        new_status = self._status_for(pod, stage, plans, now)
        self._announce(pod, stage, plans, containers)
        if stage in ("running", "succeeded", "failed") and self._phase.get(uid) not in ("running",):
            for container, plan in zip(containers, plans, strict=True):
                if plan.logs:
                    self.logs.append(md["namespace"], md["name"], container["name"], plan.logs)
        pod["status"] = new_status
        if safe_write(self.store, self.resources.pods, pod, status=True, manager=COMPONENT) is not None:
            self._phase[uid] = stage

    def _stage(self, age: float, plans: list[ContainerPlan]) -> str:
        ready_after = self.config.ready_after
        if age < ready_after:
            return "creating"
        if not all(p.pull_ok for p in plans):
            return "pull-error" if age < 2 * ready_after + self.config.tick * 4 else "pull-backoff"
        if any(p.exit_code is not None for p in plans):
            if age < ready_after + self.config.effective_job_duration:
                return "running"
            return "failed" if any(p.exit_code for p in plans) else "succeeded"
        return "running"

    def _status_for(self, pod: Obj, stage: str, plans: list[ContainerPlan], now: str) -> Obj:
        previous = pod.get("status") or {}
        ip = previous.get("podIP") or self._allocate_ip()
        start_time = previous.get("startTime") or now
        statuses = []
        for container, plan in zip(pod["spec"].get("containers") or [], plans, strict=True):
            state: Obj
            ready = False
            if stage == "creating":
                state = {"waiting": {"reason": "ContainerCreating"}}
            elif stage in ("pull-error", "pull-backoff") and not plan.pull_ok:
                reason = "ErrImagePull" if stage == "pull-error" else "ImagePullBackOff"
                state = {"waiting": {"reason": reason, "message": _pull_message(container["image"], reason)}}
            elif stage in ("succeeded", "failed"):
                code = plan.exit_code or 0
                state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                        "startedAt": start_time, "finishedAt": now}}
            elif stage in ("pull-error", "pull-backoff"):
                state = {"waiting": {"reason": "PodInitializing"}}
            else:
                state = {"running": {"startedAt": now}}
                ready = plan.ready
            statuses.append({
                "name": container["name"],
                "image": container["image"],
                "imageID": "" if stage == "creating" or not plan.pull_ok else f"sandbox://{container['image']}",
                "containerID": "" if "running" not in state and "terminated" not in state
                else f"sandbox://{pod['metadata']['uid'][:12]}-{container['name']}",
                "ready": ready,
                "restartCount": 0,
                "started": "running" in state,
                "state": state,
            })
        all_ready = bool(statuses) and all(s["ready"] for s in statuses)
        phase = {"succeeded": "Succeeded", "failed": "Failed", "running": "Running"}.get(stage, "Pending")
        conditions = [
            _condition("PodScheduled", True, now),
            _condition("Initialized", True, now),
            _condition("ContainersReady", all_ready, now, "ContainersNotReady"),
            _condition("Ready", all_ready, now, "ContainersNotReady"),
        ]
        for condition in conditions:
            before = next((c for c in previous.get("conditions") or [] if c["type"] == condition["type"]), None)
            if before is not None and before.get("status") == condition["status"]:
                condition["lastTransitionTime"] = before.get("lastTransitionTime", now)
        return {
            "phase": phase,
            "conditions": conditions,
            "hostIP": "10.0.0.1",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": start_time,
            "containerStatuses": statuses,
            "qosClass": previous.get("qosClass", "BestEffort"),
        }

    def _announce(self, pod: Obj, stage: str, plans: list[ContainerPlan], containers: list[Obj]) -> None:
        for container, plan in zip(containers, plans, strict=True):
            image, name = container["image"], container["name"]
            if stage == "pull-error" and not plan.pull_ok:
                self.events.record(pod, "Normal", "Pulling", f'Pulling image "{image}"', COMPONENT)
                self.events.record(pod, "Warning", "Failed", _pull_message(image, "ErrImagePull"), COMPONENT)
                self.events.record(pod, "Warning", "Failed", "Error: ErrImagePull", COMPONENT)
            elif stage == "pull-backoff" and not plan.pull_ok:
                self.events.record(pod, "Normal", "BackOff", f'Back-off pulling image "{image}"', COMPONENT)
                self.events.record(pod, "Warning", "Failed", "Error: ImagePullBackOff", COMPONENT)
            elif stage == "running":
                self.events.record(pod, "Normal", "Pulled",
                                   f'Container image "{image}" already present on machine', COMPONENT)
                self.events.record(pod, "Normal", "Created", f"Created container {name}", COMPONENT)
                self.events.record(pod, "Normal", "Started", f"Started container {name}", COMPONENT)
                if not plan.ready:
                    self.events.record(pod, "Warning", "Unhealthy",
                                       "Readiness probe failed: HTTP probe failed with statuscode: 503", COMPONENT)


def _pull_message(image: str, reason: str) -> str:
    if reason == "ErrImagePull":
        return (f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and unpack image '
                f'"{image}": not found (the sandbox was told this image is broken)')
    return f'Back-off pulling image "{image}"'


def _condition(kind: str, ok: bool, now: str, reason: str = "") -> Obj:
    condition: Obj = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None,
                      "lastTransitionTime": now}
    if not ok and reason:
        condition["reason"] = reason
    return condition
