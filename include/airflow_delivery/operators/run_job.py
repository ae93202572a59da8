"""``RunJobOperator``: run a Kubernetes Job, wait for it without a worker slot, return what it printed.

Spinnaker's "Run Job (Manifest)": database migrations, smoke tests, anything a pipeline must run in the
cluster rather than in Airflow. Each run and try gets its own Job (``kubernetes.jobs.unique_job_name``),
applied with server-side apply so re-executing the same try finds the same Job instead of a second one.
The wait is ``WaitForStableTrigger`` (a Job is stable when Complete, failed when Failed); the worker
resumes afterwards to read the pods' logs, which carry the outputs (``SPINNAKER_PROPERTY_<KEY>=value``,
``SPINNAKER_CONFIG_JSON=<json>``, ``DELIVERY_OUTPUT <json>``), and optionally deletes the Job.

On failure the task fails with the cluster's reason (``stability.explain_failure``: backoff limit,
deadline, image pull errors...) and the last lines of the failed pod's log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from airflow.sdk import Context

from airflow_delivery.kubernetes.errors import KubernetesError
from airflow_delivery.kubernetes.jobs import (
    JOB_API_VERSION,
    RUN_LABEL,
    base_name,
    log_tail,
    parse_outputs,
    prepare_job,
    unique_job_name,
)
from airflow_delivery.kubernetes.manifests import load_manifest_file, parse_manifests, validate_manifests
from airflow_delivery.operators._kubernetes import KubernetesOperatorBase, stable_timeout
from airflow_delivery.operators.stable import WaitForStableMixin

DEFAULT_LOG_TAIL_LINES = 20


class JobFailedError(RuntimeError):
    """The Job failed or did not finish in time; the message has the reason and the end of its log."""


def _created(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("creationTimestamp") or "")


class RunJobOperator(WaitForStableMixin, KubernetesOperatorBase):
    """Run a Job from ``manifest`` (a mapping or YAML text) or ``manifest_file``, and return its outputs.

    :param manifest: the ``batch/v1`` Job (templated); ``metadata.name`` or ``generateName`` is the base of
        the per-run name.
    :param manifest_file: a YAML file holding one Job (templated; relative paths are from the DAG's folder).
    :param wait_for_completion: wait for the Job (deferred) and read its outputs; off: return once created.
    :param cleanup: delete the Job (and its pods) after it succeeded; a failed Job is kept for inspection.
    :param output_container: read outputs from this container only (default: every container).
    :param log_tail_lines: how many log lines of a failed pod the error shows.
    :param timeout: how long to wait for the Job (default 30 minutes).

    Returns (XCom) ``{"job": {"name", "namespace", "uid"}, "outputs": {...}, "pods": [names], "status",
    "reason", "cleaned_up", "kubernetes_conn_id"}``.
    """

    template_fields: Sequence[str] = ("manifest", "manifest_file", "namespace", "kubernetes_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"manifest": "json"}
    ui_color = "#ece4f0"

    def __init__(
        self,
        *,
        manifest: Mapping[str, Any] | str | None = None,
        manifest_file: str | None = None,
        wait_for_completion: bool = True,
        cleanup: bool = False,
        output_container: str | None = None,
        log_tail_lines: int = DEFAULT_LOG_TAIL_LINES,
        timeout: timedelta | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (manifest is None) == (manifest_file is None):
            raise ValueError(f"{self.task_id}: give exactly one of manifest (inline) or manifest_file")
        if cleanup and not wait_for_completion:
            raise ValueError(f"{self.task_id}: cleanup deletes the Job after it succeeded, so it needs "
                             "wait_for_completion")
        if log_tail_lines < 0:
            raise ValueError(f"{self.task_id}: log_tail_lines must be 0 or more, got {log_tail_lines}")
        self.manifest = manifest
        self.manifest_file = manifest_file
        self.wait_for_completion = wait_for_completion
        self.cleanup = cleanup
        self.output_container = output_container
        self.log_tail_lines = log_tail_lines
        self.stable_timeout = stable_timeout(timeout, self.task_id)

    # -- before: the Job manifest --

    def _path(self, value: str) -> Path:
        path = Path(value)
        if path.is_absolute():
            return path
        fileloc = getattr(getattr(self, "dag", None), "fileloc", None)
        return Path(fileloc).parent / path if fileloc else path

    def _load_manifest(self) -> dict[str, Any]:
        # Read and checked after templating.
        if self.manifest_file is not None:
            documents = load_manifest_file(self._path(str(self.manifest_file)), allow_generate_name=True)
            where = f"manifest_file {self.manifest_file}"
        elif isinstance(self.manifest, str):
            documents = parse_manifests(self.manifest, source=f"{self.task_id}.manifest", allow_generate_name=True)
            where = "manifest"
        else:
            documents = validate_manifests([self.manifest], source=f"{self.task_id}.manifest",
                                           allow_generate_name=True)
            where = "manifest"
        if len(documents) != 1:
            raise ValueError(f"{self.task_id}: {where} holds {len(documents)} documents; a run_job stage runs "
                             "exactly one Job")
        return documents[0]

    def execute(self, context: Context) -> dict[str, Any]:
        manifest = self._load_manifest()
        ti = context["ti"]
        identity = f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{getattr(ti, 'map_index', -1)}/{ti.try_number}"
        name = unique_job_name(base_name(manifest), identity)
        namespace = (manifest.get("metadata") or {}).get("namespace") or self.namespace or \
            self.hook.default_namespace()
        job = prepare_job(manifest, name=name, namespace=namespace)
        applied = self.hook.server_side_apply(job)
        metadata = applied.get("metadata") or {}
        self.log.info("Created Job %s/%s (uid %s)", namespace, name, metadata.get("uid"))
        result: dict[str, Any] = {
            "job": {"name": name, "namespace": namespace, "uid": metadata.get("uid")},
            "kubernetes_conn_id": self.kubernetes_conn_id,
        }
        if not self.wait_for_completion:
            return {**result, "status": "started", "outputs": {}, "pods": [], "reason": "not waited for",
                    "cleaned_up": False}
        target = {"kind": "Job", "name": name, "namespace": namespace, "api_version": JOB_API_VERSION}
        return self.defer_until_stable(context, targets=[target], result=result, timeout=self.stable_timeout,
                                       conn_id=self.kubernetes_conn_id, resume=True)

    # -- after: outputs, failure reasons, cleanup --

    def _pods(self, name: str, namespace: str) -> list[dict[str, Any]]:
        pods = self.hook.list("Pod", namespace, api_version="v1", label_selector=f"{RUN_LABEL}={name}")
        return sorted(pods, key=_created)

    def _containers(self, pod: Mapping[str, Any]) -> list[str]:
        names = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
        if self.output_container is None:
            return names
        if self.output_container not in names:
            raise ValueError(f"{self.task_id}: output_container {self.output_container!r} is not a container of "
                             f"the Job's pods (they have {', '.join(names)})")
        return [self.output_container]

    def _log(self, pod: Mapping[str, Any], container: str, tail: int | None = None) -> str:
        metadata = pod.get("metadata") or {}
        return str(self.hook.read_pod_logs(metadata.get("name"), metadata.get("namespace"), container=container,
                                           tail_lines=tail))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        if not event or "status" not in event or "job" not in event:
            raise RuntimeError(f"{self.task_id}: the Job wait ended without a result: {event!r}")
        job = event["job"]
        name, namespace = str(job["name"]), str(job["namespace"])
        result = {k: v for k, v in event.items() if k != "stable"}
        pods = self._pods(name, namespace)
        result["pods"] = [p["metadata"]["name"] for p in pods]
        if event["status"] != "success":
            result.update(outputs={}, cleaned_up=False)
            context["ti"].xcom_push(key="return_value", value=result)
            raise JobFailedError(self._failure_message(name, namespace, event, pods))
        outputs: dict[str, Any] = {}
        for pod in [p for p in pods if (p.get("status") or {}).get("phase") == "Succeeded"]:
            for container in self._containers(pod):
                source = f"Job {namespace}/{name} pod {pod['metadata']['name']} container {container!r}"
                outputs.update(parse_outputs(self._log(pod, container), source=source))
        self.log.info("Job %s/%s succeeded; outputs: %s", namespace, name, ", ".join(sorted(outputs)) or "none")
        cleaned_up = False
        if self.cleanup:
            self.hook.delete("Job", name, namespace, api_version=JOB_API_VERSION, propagation="Background",
                             missing_ok=True)
            cleaned_up = True
            self.log.info("Deleted Job %s/%s and its pods (cleanup)", namespace, name)
        return {**result, "outputs": outputs, "cleaned_up": cleaned_up}

    def _failure_message(self, name: str, namespace: str, event: Mapping[str, Any], pods: list[dict[str, Any]]) -> str:
        status = event.get("status")
        headline = "did not finish in time" if status == "timeout" else "failed"
        message = f"{self.task_id}: Job {namespace}/{name} {headline}: {event.get('reason')}"
        failed = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"] or pods
        if not failed or not self.log_tail_lines:
            return message
        pod = failed[-1]
        for container in [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]:
            try:
                tail = log_tail(self._log(pod, container, self.log_tail_lines), self.log_tail_lines)
            except KubernetesError as exc:
                tail = f"(could not read the log: {exc})"
            message += (f"\nlast {self.log_tail_lines} log lines of pod {pod['metadata']['name']} container "
                        f"{container!r}:\n{tail or '(empty)'}")
        return message
