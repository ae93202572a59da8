"""Wait until Kubernetes workloads are stable, in the triggerer, and say why when they are not.

Every deploy, patch, scale and undo ends with this wait. The trigger polls each target with
``AsyncDeliveryKubernetesHook`` and decides with the pure ``stability.assess`` (the same rules as
``kubectl rollout status``). It stops at the first of: every target stable (``success``), a target that
Kubernetes itself declares failed (``failed``: ``ProgressDeadlineExceeded``, a failed Job or Pod), or the
absolute ``deadline`` (``timeout``). On ``failed`` and ``timeout`` it reads the workload's pods and the
namespace's recent Warning events and lets ``stability.explain_failure`` name the cause (image pull
errors, crash loops, pods never ready), because "timed out waiting for manifest to stabilize" is not
something a person can act on.

Polling, not watching: a poll every ``poll_interval`` seconds is a handful of GETs per target, survives
dropped watch streams and API-server restarts without any resume logic, and a trigger restart simply
polls again. Transient API failures (5xx, 429, timeouts, refused connections) are retried by the hook
with backoff and, when they outlast its retries, by the next poll; they only decide the outcome when
they last until the deadline. Failures that waiting cannot fix (unknown kind, no permission) end the
wait at once as ``failed``.

The deadline is absolute and serialised, so a triggerer restart never restarts the clock.
``resume_not_before`` (absolute, optional) holds back an event that resumes a worker (``end_from_trigger``
off) until the deferring worker has surely exited: see ``airflow_delivery.utils.deferral``.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_delivery.kubernetes.errors import KubernetesError, KubernetesUnavailableError, NotFoundError
from airflow_delivery.kubernetes.stability import WORKLOAD_KINDS, assess, explain_failure
from airflow_delivery.utils.deferral import final_event

StableStatus = Literal["success", "failed", "timeout"]
TargetState = Literal["stable", "progressing", "failed", "missing", "unknown"]
# Kinds whose pods are found through ``spec.selector``.
_SELECTOR_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
EVENT_LIMIT = 200


class TargetFailure(TypedDict):
    reason: str
    message: str
    evidence: list[str]


class TargetReport(TypedDict, total=False):
    kind: str
    name: str
    namespace: str | None
    api_version: str | None
    state: TargetState
    reason: str
    failure: TargetFailure


def target_key(target: Mapping[str, Any]) -> str:
    """``Deployment/default/web``: how a target is keyed in the ``stable`` map of the result."""
    return f"{target['kind']}/{target.get('namespace') or ''}/{target['name']}"


def normalize_targets(targets: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validate targets and return them as plain dicts with ``kind``, ``name``, ``namespace``, ``api_version``."""
    if not isinstance(targets, Sequence) or isinstance(targets, (str, bytes)):
        raise TypeError(f"targets must be a list of {{'kind', 'name', 'namespace'}} mappings, got {targets!r}")
    result = []
    for index, target in enumerate(targets):
        if not isinstance(target, Mapping):
            raise TypeError(f"targets[{index}] must be a mapping with kind and name, got {target!r}")
        unknown = sorted(set(target) - {"kind", "name", "namespace", "api_version"})
        if unknown:
            raise ValueError(f"targets[{index}] has unknown keys {unknown}; use kind, name, namespace, api_version")
        for key in ("kind", "name"):
            if not isinstance(target.get(key), str) or not target.get(key):
                raise ValueError(f"targets[{index}].{key} is missing: each target needs a kind and a name")
        result.append({
            "kind": str(target["kind"]),
            "name": str(target["name"]),
            "namespace": str(target["namespace"]) if target.get("namespace") else None,
            "api_version": str(target["api_version"]) if target.get("api_version") else None,
        })
    return result


def selector_string(selector: Mapping[str, Any] | None) -> str | None:
    """A ``LabelSelector`` (``matchLabels`` + ``matchExpressions``) as the query string the API takes."""
    if not isinstance(selector, Mapping):
        return None
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = ",".join(str(v) for v in expression.get("values") or [])
        if operator == "In":
            parts.append(f"{key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif operator == "Exists":
            parts.append(str(key))
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts) or None


class WaitForStableTrigger(BaseTrigger):
    """Poll ``targets`` until all are stable, one fails, or ``deadline`` passes.

    :param targets: ``[{"kind", "name", "namespace", "api_version"?}]``; kinds that do not roll out
        (Service, ConfigMap...) count as stable once they exist.
    :param kubernetes_conn_id: the cluster (Spinnaker "account").
    :param deadline: aware ISO-8601 timestamp after which the wait ends as ``timeout``.
    :param poll_interval: seconds between polls.
    :param result: the operator's result so far; the event is ``{**result, "stable", "status", "reason",
        "failure_reason"}``.
    :param end_from_trigger: end the task here (see ``utils.deferral``) instead of resuming a worker.
    :param resume_not_before: aware ISO-8601 timestamp; a worker-resuming event is not sent earlier.
    """

    def __init__(
        self,
        *,
        targets: list[dict[str, Any]],
        kubernetes_conn_id: str,
        deadline: str,
        poll_interval: float = 1.0,
        result: dict[str, Any] | None = None,
        end_from_trigger: bool = False,
        resume_not_before: str | None = None,
    ) -> None:
        super().__init__()
        self.targets = normalize_targets(targets)
        self.kubernetes_conn_id = kubernetes_conn_id
        self.deadline = deadline
        self._deadline = _aware(deadline, "deadline")
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be > 0 seconds, got {poll_interval!r}")
        self.poll_interval = float(poll_interval)
        self.result = dict(result or {})
        self.end_from_trigger = end_from_trigger
        self.resume_not_before = resume_not_before
        self._not_before = _aware(resume_not_before, "resume_not_before") if resume_not_before else None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "targets": [dict(t) for t in self.targets],
                "kubernetes_conn_id": self.kubernetes_conn_id,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "result": dict(self.result),
                "end_from_trigger": self.end_from_trigger,
                "resume_not_before": self.resume_not_before,
            },
        )

    def _hook(self) -> Any:
        from airflow_delivery.hooks.kubernetes import AsyncDeliveryKubernetesHook, RetryPolicy

        # Short per-request retries: the poll loop itself is the outer retry, bounded by the deadline.
        return AsyncDeliveryKubernetesHook(
            conn_id=self.kubernetes_conn_id,
            request_timeout=max(5.0, min(30.0, self.poll_interval * 10)),
            retry_policy=RetryPolicy(attempts=3, backoff=min(0.5, self.poll_interval), max_backoff=2.0),
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            status, reason, failure_reason, reports = await self._wait(self._hook())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported as the outcome instead of a silent trigger death
            self.log.error("Waiting for %s failed unexpectedly:\n%s", self._describe(), traceback.format_exc())
            status, reason, failure_reason = "failed", f"waiting for stability failed: {type(exc).__name__}: {exc}", None
            reports = {target_key(t): {**t, "state": "unknown", "reason": reason}  # type: ignore[typeddict-item]
                       for t in self.targets}
        if status == "success":
            self.log.info("Stable: %s", reason)
        else:
            self.log.error("Not stable (%s): %s", status, reason)
        if not self.end_from_trigger and self._not_before is not None:
            await _sleep_until(self._not_before)
        result = {**self.result, "stable": reports, "status": status, "reason": reason,
                  "failure_reason": failure_reason}
        yield final_event(end_from_trigger=self.end_from_trigger, succeeded=status == "success", result=result)

    def _describe(self) -> str:
        return ", ".join(target_key(t) for t in self.targets) or "nothing"

    async def _wait(self, hook: Any) -> tuple[StableStatus, str, str | None, dict[str, TargetReport]]:
        default_ns: str | None = None
        if any(not t["namespace"] for t in self.targets):
            default_ns = await hook.default_namespace()
        targets = [{**t, "namespace": t["namespace"] or default_ns} for t in self.targets]
        self.log.info("Waiting until %s is stable (deadline %s)", self._describe(), self.deadline)
        last_logged: dict[str, str] = {}
        while True:
            reports: dict[str, TargetReport] = {}
            objects: dict[str, dict[str, Any]] = {}
            final_error: str | None = None
            for target in targets:
                key = target_key(target)
                try:
                    obj = await hook.get(target["kind"], target["name"], target["namespace"],
                                         api_version=target["api_version"])
                except NotFoundError:
                    reports[key] = {**target, "state": "missing", "reason": "does not exist (yet)"}  # type: ignore[typeddict-item]
                    continue
                except KubernetesError as err:
                    if _transient(err):
                        reports[key] = {**target, "state": "unknown",  # type: ignore[typeddict-item]
                                        "reason": f"could not read it: {err}"}
                        continue
                    final_error = str(err)
                    reports[key] = {**target, "state": "failed", "reason": final_error}  # type: ignore[typeddict-item]
                    continue
                verdict = assess(obj)
                objects[key] = obj
                reports[key] = {**target, "state": verdict.state, "reason": verdict.reason}  # type: ignore[typeddict-item]
            for key, report in reports.items():
                if last_logged.get(key) != report["reason"]:
                    self.log.info("%s: %s (%s)", key, report["state"], report["reason"])
                    last_logged[key] = report["reason"]
            if final_error is not None:
                return "failed", final_error, None, reports
            if all(r["state"] == "stable" for r in reports.values()):
                return "success", f"{len(reports)} of {len(reports)} targets stable", None, reports
            failed = [k for k, r in reports.items() if r["state"] == "failed"]
            if failed:
                reason, failure_reason = await self._explain(hook, failed, reports, objects)
                return "failed", reason, failure_reason, reports
            remaining = (self._deadline - datetime.now(UTC)).total_seconds()
            if remaining <= 0:
                pending = [k for k, r in reports.items() if r["state"] != "stable"]
                reason, failure_reason = await self._explain(hook, pending, reports, objects)
                return "timeout", f"not stable by the deadline {self.deadline}: {reason}", failure_reason, reports
            await asyncio.sleep(min(self.poll_interval, remaining))

    async def _explain(self, hook: Any, keys: list[str], reports: dict[str, TargetReport],
                       objects: dict[str, dict[str, Any]]) -> tuple[str, str | None]:
        """Explain each of ``keys`` (into its report) and return the first sentence and Kubernetes reason."""
        sentences: list[str] = []
        first_reason: str | None = None
        events_by_ns: dict[str, list[dict[str, Any]]] = {}
        for key in keys:
            report = reports[key]
            obj = objects.get(key)
            if obj is None:
                sentences.append(f"{key}: {report['reason']}")
                continue
            try:
                pods = await self._pods_of(hook, obj)
                namespace = str(report.get("namespace") or "")
                if namespace not in events_by_ns:
                    events_by_ns[namespace] = await hook.list("Event", namespace, api_version="v1",
                                                              field_selector="type=Warning", page_size=EVENT_LIMIT)
                explanation = explain_failure(obj, pods, events_by_ns[namespace])
            except KubernetesError as err:
                self.log.warning("Could not read the pods and events of %s to explain it: %s", key, err)
                sentences.append(f"{key}: {report['reason']}")
                continue
            report["failure"] = {"reason": explanation.reason, "message": explanation.message,
                                 "evidence": list(explanation.evidence)}
            self.log.error("%s", explanation)
            sentences.append(explanation.message)
            first_reason = first_reason or explanation.reason
        return "; ".join(sentences), first_reason

    @staticmethod
    async def _pods_of(hook: Any, obj: Mapping[str, Any]) -> list[dict[str, Any]]:
        kind = obj.get("kind")
        if kind == "Pod":
            return [dict(obj)]
        if kind not in _SELECTOR_KINDS:
            return []
        selector = selector_string((obj.get("spec") or {}).get("selector"))
        if selector is None:
            return []
        namespace = (obj.get("metadata") or {}).get("namespace")
        return list(await hook.list("Pod", namespace, api_version="v1", label_selector=selector))


def _transient(err: KubernetesError) -> bool:
    return isinstance(err, KubernetesUnavailableError) or err.transient


def _aware(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} {value!r} is not an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{name} {value!r} has no time zone; pass an aware ISO-8601 timestamp")
    return parsed


async def _sleep_until(moment: datetime) -> None:
    while (remaining := (moment - datetime.now(UTC)).total_seconds()) > 0:
        await asyncio.sleep(remaining)


__all__ = ["WORKLOAD_KINDS", "WaitForStableTrigger", "normalize_targets", "selector_string", "target_key"]
