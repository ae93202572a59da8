"""Waiting for stability: the mixin every Kubernetes operator defers with, and the stand-alone stage.

``WaitForStableMixin.defer_until_stable`` computes the absolute deadline before deferring (so a
triggerer restart never restarts the stage's clock) and hands the operator's result so far to
``WaitForStableTrigger``, which returns it with the outcome. ``execute_complete`` returns that result
or fails the task with the reason the cluster gave. The default timeout is 30 minutes per stage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, NoReturn

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_delivery.triggers.stable import WaitForStableTrigger, normalize_targets
from airflow_delivery.utils.deferral import ends_in_triggerer
from airflow_delivery.utils.xcom import stage_result

DEFAULT_STABLE_TIMEOUT = timedelta(minutes=30)
DEFAULT_POLL_INTERVAL = 1.0
# How long a worker-resuming event is held back after deferring (apache/airflow#66374, utils/deferral.py).
RESUME_GRACE = timedelta(seconds=5)


class StabilityError(AirflowFailException):
    """The targets did not become stable; the message carries the cluster's reason. Not retried."""


def check_timeout(timeout: timedelta | float | None, where: str) -> timedelta:
    """A positive ``timedelta`` (seconds accepted), or the default when ``None``."""
    if timeout is None:
        return DEFAULT_STABLE_TIMEOUT
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        timeout = timedelta(seconds=timeout)
    if not isinstance(timeout, timedelta) or timeout.total_seconds() <= 0:
        raise ValueError(f"{where}: stable timeout must be a positive duration, got {timeout!r}")
    return timeout


class WaitForStableMixin:
    """For ``BaseOperator`` subclasses: ``return self.defer_until_stable(...)`` at the end of ``execute``."""

    task_id: str
    log: Any

    def defer_until_stable(
        self,
        context: Context,
        *,
        targets: Sequence[Mapping[str, Any]],
        result: Mapping[str, Any],
        timeout: timedelta | None = None,
        conn_id: str,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        resume: bool = False,
    ) -> dict[str, Any]:
        """Defer until ``targets`` are stable; returns at once (``status: success``) when there are none.

        ``resume=True`` resumes ``execute_complete`` on a worker (for operators with work to do after
        the wait, such as moving traffic); otherwise the task ends in the triggerer with the result.
        """
        checked = normalize_targets(list(targets))
        timeout = check_timeout(timeout, self.task_id)
        if not checked:
            self.log.info("Nothing rolls out here; nothing to wait for")
            return {**dict(result), "stable": {}, "status": "success", "reason": "no targets to wait for",
                    "failure_reason": None}
        now = datetime.now(UTC)
        deadline = now + timeout
        in_triggerer = ends_in_triggerer()
        end_from_trigger = in_triggerer and not resume
        not_before = (now + RESUME_GRACE).isoformat() if in_triggerer and resume else None
        self.log.info("Deferring until %d target(s) are stable, deadline %s", len(checked), deadline.isoformat())
        trigger = WaitForStableTrigger(
            targets=checked, kubernetes_conn_id=conn_id, deadline=deadline.isoformat(),
            poll_interval=poll_interval, result=dict(result), end_from_trigger=end_from_trigger,
            resume_not_before=not_before,
        )
        self._defer(trigger)

    def _defer(self, trigger: WaitForStableTrigger) -> NoReturn:
        self.defer(trigger=trigger, method_name="execute_complete")  # type: ignore[attr-defined]
        raise AssertionError("defer() returned")  # pragma: no cover - defer always raises

    def stable_outcome(self, context: Context, event: Mapping[str, Any] | None) -> dict[str, Any]:
        """The event as a result; on failure the result is pushed to XCom and ``StabilityError`` raised."""
        if not event or "status" not in event:
            raise RuntimeError(f"{self.task_id}: the stability wait ended without a result: {event!r}")
        result = dict(event)
        if result["status"] != "success":
            context["ti"].xcom_push(key="return_value", value=result)
            raise StabilityError(f"{self.task_id}: {result['status']}: {result.get('reason')}")
        self.log.info("Stable: %s", result.get("reason"))
        return result

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.stable_outcome(context, event)


class WaitForStableOperator(WaitForStableMixin, BaseOperator):
    """The ``wait_for_stable`` stage: wait until workloads have rolled out, holding no worker slot.

    :param targets: ``[{"kind", "name", "namespace"?, "api_version"?}]`` (templated), or strings
        ``"deployment/web"`` / ``"Deployment/web"``.
    :param from_stage: task id of a deploy stage: wait for the objects it applied (its XCom ``applied``).
    :param namespace: namespace of targets that name none (default: the connection's).
    :param timeout: how long to wait before failing with ``timeout`` (default 30 minutes).
    :param kubernetes_conn_id: the cluster (Spinnaker "account").

    Returns (XCom) ``{"targets", "stable", "status", "reason", "failure_reason", "kubernetes_conn_id"}``.
    """

    template_fields: Sequence[str] = ("targets", "from_stage", "namespace", "kubernetes_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"targets": "json"}
    ui_color = "#e4ecf0"

    def __init__(
        self,
        *,
        targets: Sequence[Mapping[str, Any] | str] | str | None = None,
        from_stage: str | None = None,
        namespace: str | None = None,
        timeout: timedelta | float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        kubernetes_conn_id: str = "kubernetes_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (targets is None) == (from_stage is None):
            raise ValueError(f"{self.task_id}: give exactly one of targets or from_stage")
        if poll_interval <= 0:
            raise ValueError(f"{self.task_id}: poll_interval must be > 0 seconds, got {poll_interval!r}")
        self.targets = targets
        self.from_stage = from_stage
        self.namespace = namespace
        self.stable_timeout = check_timeout(timeout, self.task_id)
        self.poll_interval = poll_interval
        self.kubernetes_conn_id = kubernetes_conn_id

    def _targets(self, context: Context) -> list[dict[str, Any]]:
        # Checked here, after templating.
        if self.from_stage:
            upstream = stage_result(context["ti"], self.from_stage)
            if not isinstance(upstream, Mapping) or not isinstance(upstream.get("applied"), list):
                raise ValueError(f"{self.task_id}: stage {self.from_stage!r} returned no 'applied' list to wait for "
                                 f"(got {type(upstream).__name__}); is it a deploy stage that ran before this one?")
            raw: Any = [{k: a.get(k) for k in ("kind", "name", "namespace", "api_version")}
                        for a in upstream["applied"]]
        else:
            raw = self.targets
        if isinstance(raw, str):
            raw = [part.strip() for part in raw.split(",") if part.strip()]
        parsed = [parse_target(t, self.task_id) for t in raw]
        return normalize_targets([{**t, "namespace": t.get("namespace") or self.namespace} for t in parsed])

    def execute(self, context: Context) -> dict[str, Any]:
        targets = self._targets(context)
        result = {"targets": targets, "kubernetes_conn_id": self.kubernetes_conn_id}
        return self.defer_until_stable(context, targets=targets, result=result, timeout=self.stable_timeout,
                                       conn_id=self.kubernetes_conn_id, poll_interval=self.poll_interval)


_KIND_ALIASES = {
    "deployment": "Deployment", "deploy": "Deployment", "statefulset": "StatefulSet", "sts": "StatefulSet",
    "daemonset": "DaemonSet", "ds": "DaemonSet", "replicaset": "ReplicaSet", "rs": "ReplicaSet",
    "job": "Job", "pod": "Pod", "po": "Pod",
}


def parse_target(value: Mapping[str, Any] | str, where: str) -> dict[str, Any]:
    """``"deployment/web"`` (kubectl style) or a mapping, as a target mapping."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str) and value.count("/") == 1:
        kind, name = value.split("/")
        kind = _KIND_ALIASES.get(kind.lower(), kind)
        if kind and name:
            return {"kind": kind, "name": name}
    raise ValueError(f"{where}: target {value!r} is neither 'kind/name' (e.g. 'deployment/web') nor a mapping "
                     "with kind and name")
