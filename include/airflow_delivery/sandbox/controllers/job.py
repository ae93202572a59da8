"""The Job controller: runs pods until ``completions`` succeed, or fails the Job after ``backoffLimit``
failed pods or ``activeDeadlineSeconds``. (``restartPolicy: OnFailure`` is treated like ``Never``: a
failed container fails its pod and a new pod is created, rather than restarting in place.)"""

from __future__ import annotations

from datetime import timedelta

from airflow_delivery.sandbox.clock import Clock, parse_rfc3339, rfc3339
from airflow_delivery.sandbox.controllers.common import (
    Obj,
    Resources,
    controlled_by,
    deleting,
    get_condition,
    safe_write,
    set_condition,
)
from airflow_delivery.sandbox.controllers.events import EventRecorder
from airflow_delivery.sandbox.controllers.replicaset import pod_from_template, pod_ready
from airflow_delivery.sandbox.errors import ApiError
from airflow_delivery.sandbox.store import ObjectStore

COMPONENT = "job-controller"


def job_finished(job: Obj) -> bool:
    status = job.get("status") or {}
    return any(
        (get_condition(status, kind) or {}).get("status") == "True" for kind in ("Complete", "Failed")
    )


class JobController:
    def __init__(self, store: ObjectStore, resources: Resources, clock: Clock, events: EventRecorder) -> None:
        self.store = store
        self.resources = resources
        self.clock = clock
        self.events = events

    def reconcile(self) -> None:
        jobs, _ = self.store.list(self.resources.jobs)
        if not jobs:
            return
        all_pods, _ = self.store.list(self.resources.pods)
        for job in jobs:
            if deleting(job) or job_finished(job) or job["spec"].get("suspend"):
                continue
            pods = [p for p in all_pods if controlled_by(p, job["metadata"]["uid"])]
            self._sync(job, pods)

    def _sync(self, job: Obj, pods: list[Obj]) -> None:
        spec, md = job["spec"], job["metadata"]
        status = dict(job.get("status") or {})
        now_dt = self.clock.now()
        now = rfc3339(now_dt)
        status.setdefault("startTime", now)
        active = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                  and not deleting(p)]
        succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed")
        completions = int(spec.get("completions") or 1)
        deadline = spec.get("activeDeadlineSeconds")
        failure: tuple[str, str] | None = None
        if failed > int(spec.get("backoffLimit", 6)):
            failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif deadline is not None and now_dt > parse_rfc3339(status["startTime"]) + timedelta(seconds=int(deadline)):
            failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
        if failure is not None:
            for pod in active:
                self._delete_pod(md["namespace"], pod)
            active = []
            for kind in ("FailureTarget", "Failed"):
                set_condition(status, _condition(kind, failure[0], failure[1], now))
            self.events.record(job, "Warning", failure[0], failure[1], COMPONENT)
        elif succeeded >= completions:
            for pod in active:
                self._delete_pod(md["namespace"], pod)
            active = []
            set_condition(status, _condition("SuccessCriteriaMet", "CompletionsReached",
                                             "Reached expected number of succeeded pods", now))
            set_condition(status, _condition("Complete", "CompletionsReached",
                                             "Reached expected number of succeeded pods", now))
            status["completionTime"] = now
            self.events.record(job, "Normal", "Completed", "Job completed", COMPONENT)
        else:
            wanted = min(int(spec.get("parallelism", 1)), completions - succeeded)
            for _ in range(wanted - len(active)):
                pod = pod_from_template(job, spec.get("template") or {}, f"{md['name']}-")
                try:
                    created = self.store.create(self.resources.pods, pod, manager=COMPONENT)
                except ApiError as err:
                    self.events.record(job, "Warning", "FailedCreate", f"Error creating: {err.message}", COMPONENT)
                    break
                active.append(created)
                self.events.record(job, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}",
                                   COMPONENT)
        status.update({"active": len(active), "succeeded": succeeded, "failed": failed,
                       "ready": sum(1 for p in active if pod_ready(p)), "terminating": 0,
                       "uncountedTerminatedPods": {}})
        for key in ("active", "succeeded", "failed"):
            if not status[key]:
                del status[key]
        if status != (job.get("status") or {}):
            job["status"] = status
            safe_write(self.store, self.resources.jobs, job, status=True, manager=COMPONENT)

    def _delete_pod(self, namespace: str, pod: Obj) -> None:
        try:
            self.store.delete(self.resources.pods, namespace, pod["metadata"]["name"])
        except ApiError:
            pass


def _condition(kind: str, reason: str, message: str, now: str) -> Obj:
    return {"type": kind, "status": "True", "reason": reason, "message": message, "lastProbeTime": now,
            "lastTransitionTime": now}
