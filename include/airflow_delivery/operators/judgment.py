"""The ``manual_judgment`` stage on Airflow's human-in-the-loop operator (standard provider, Airflow 3.3).

The task waits in Airflow's ``awaiting_input`` state (no worker slot, no trigger) until an assigned
user answers in the UI's Required Actions tab or through
``PATCH /api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/-1/hitlDetails``; Airflow itself refuses
(403) anyone who is not assigned. On top of Airflow's operator this adds what a delivery pipeline needs:

* judgment inputs that branch to different stages, or stop the pipeline;
* an explicit decision on timeout: ``stop`` (the stage fails, so the pipeline's failure handling
  applies) unless the pipeline names an input to take;
* Slack messages when a judgment is awaited (with the Required Actions link) and when it is given;
* the decision (who, what, when) as the task's XCom, also when it stops the pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, TypedDict

from airflow.providers.slack.notifications.slack import SlackNotifier
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Context
from airflow.sdk.bases.branch import BranchMixIn
from airflow.sdk.exceptions import AirflowFailException

from airflow_delivery.notifications.messages import pipeline_message, run_url

STOP = "stop"
DEFAULT_INPUTS: tuple[dict[str, Any], ...] = ({"value": "Continue"}, {"value": "Stop", "stop": True})
JudgmentEvent = Literal["judgment", "decided"]


class JudgmentDecision(TypedDict):
    """The task's XCom (``return_value``): what was decided, by whom, when."""

    stage: str
    input: str | None
    decision: Literal["continue", "stop"]
    branches: list[str] | None
    form: dict[str, Any]
    responded_by: dict[str, str] | None
    responded_at: str | None
    timed_out: bool


def _base_url() -> str:
    from airflow.configuration import conf

    return conf.get("api", "base_url", fallback="") or "http://localhost:8080"


class JudgmentSlackNotifier(SlackNotifier):
    """'Stage X is waiting for a judgment' (with the Required Actions link) and 'judgment given'.

    Best effort: a Slack outage is logged and never fails the judgment itself. The text is set in
    ``notify``, after Airflow rendered the notifier's templates, so nothing a user typed is rendered.
    """

    def __init__(self, *, event: JudgmentEvent, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.event = event
        self.detail: str | None = None

    def notify(self, context: Context) -> None:
        ti = context["ti"]
        dag_run = context.get("dag_run")
        conf = (getattr(dag_run, "conf", None) or {}) if dag_run is not None else {}
        artifacts = conf.get("artifacts") if isinstance(conf.get("artifacts"), dict) else None
        detail = self.detail
        if self.event == "judgment":
            link = HITLOperator.generate_link_to_ui_from_context(context=context, base_url=_base_url())
            task = context["task"]
            choices = ", ".join(f"*{option}*" for option in getattr(task, "options", []))
            detail = "\n".join(
                line
                for line in (
                    str(getattr(task, "subject", "") or ""),
                    f"choose: {choices}" if choices else "",
                    f"<{link}|answer in Airflow (Required Actions)>",
                )
                if line
            )
        self.text = pipeline_message(
            self.event,
            pipeline=ti.dag_id,
            run_id=ti.run_id,
            url=run_url(_base_url(), ti.dag_id, ti.run_id),
            stage=ti.task_id,
            artifacts={str(k): str(v) for k, v in artifacts.items()} if artifacts else None,
            detail=detail,
        )
        try:
            super().notify(context)
        except Exception as exc:  # noqa: BLE001 - a notification must not decide a release
            self.log.warning("Could not send the %r Slack message for %s: %s", self.event, ti.task_id, exc)


class JudgmentOperator(HITLOperator, BranchMixIn):
    """A manual judgment: choose one of ``inputs``; it may branch to stages or stop the pipeline.

    :param subject: headline shown to the judge (templated).
    :param body: instructions, Markdown (templated with params, artifacts and earlier XComs).
    :param inputs: the choices, each ``{"value": str, "stages": [task ids] | None, "stop": bool}``.
        When any input names ``stages``, the judgment branches: the chosen input's stages run, the
        stages named only by other inputs are skipped, downstream stages named by no input run.
        ``stop`` fails the stage (the pipeline stops, or its failure handling runs).
    :param params: form fields the judge fills in (Airflow ``Param`` objects), as for ``HITLOperator``;
        the answers are the decision's ``form``.
    :param assigned_users: user ids (or ``{"id", "name"}``) allowed to answer; others get 403.
        Empty: anyone with access to the run may answer.
    :param response_timeout: how long to wait for an answer; ``None`` waits forever.
    :param on_timeout: ``"stop"`` (default: the stage fails) or the value of the input to take.
    :param slack: Slack targets ``{"connection", "channel", "when": ["judgment", "decided"]}``.
    """

    inherits_from_skipmixin = True
    template_fields: Sequence[str] = ("subject", "body")
    template_fields_renderers = {"body": "md"}
    ui_color = "#fff3cd"

    def __init__(
        self,
        *,
        subject: str,
        body: str | None = None,
        inputs: Sequence[Mapping[str, Any]] = DEFAULT_INPUTS,
        assigned_users: Sequence[str | Mapping[str, str]] = (),
        response_timeout: timedelta | None = None,
        on_timeout: str = STOP,
        slack: Sequence[Mapping[str, Any]] = (),
        **kwargs: Any,
    ) -> None:
        task_id = kwargs.get("task_id", "manual_judgment")
        if not inputs:
            raise ValueError(f"{task_id}: give at least one judgment input")
        values = [str(i["value"]) for i in inputs]
        if len(set(values)) != len(values):
            raise ValueError(f"{task_id}: judgment input values must be unique, got {values}")
        if on_timeout != STOP and on_timeout not in values:
            raise ValueError(
                f"{task_id}: on_timeout {on_timeout!r} must be 'stop' or one of the inputs {values}"
            )
        if on_timeout != STOP and response_timeout is None:
            raise ValueError(f"{task_id}: on_timeout {on_timeout!r} needs a response_timeout")
        if "execution_timeout" in kwargs and kwargs["execution_timeout"] is not None:
            raise ValueError(
                f"{task_id}: pass the time a judge has as response_timeout, not execution_timeout"
            )
        users = [
            {"id": u, "name": u}
            if isinstance(u, str)
            else {"id": str(u["id"]), "name": str(u.get("name", u["id"]))}
            for u in assigned_users
        ]
        judgment_slack = [dict(target) for target in slack]
        notifiers = [
            JudgmentSlackNotifier(event="judgment", slack_conn_id=t["connection"], channel=t["channel"])
            for t in judgment_slack
            if "judgment" in t.get("when", ("judgment", "decided"))
        ]
        super().__init__(
            subject=subject,
            body=body,
            options=values,
            defaults=None if on_timeout == STOP else [on_timeout],
            multiple=False,
            notifiers=notifiers,
            assigned_users=users or None,  # type: ignore[arg-type]
            response_timeout=response_timeout,
            **kwargs,
        )
        self.inputs = [
            {
                "value": str(i["value"]),
                "stages": list(i["stages"]) if i.get("stages") is not None else None,
                "stop": bool(i.get("stop", False)),
            }
            for i in inputs
        ]
        self.on_timeout = on_timeout
        self.judgment_slack = judgment_slack

    @property
    def branching(self) -> bool:
        return any(i["stages"] is not None for i in self.inputs)

    def _branches(self, chosen: Mapping[str, Any]) -> list[str]:
        """The chosen input's stages, plus direct downstream stages that no input names."""
        named = {stage for i in self.inputs for stage in (i["stages"] or ())}
        unnamed = sorted(set(self.downstream_task_ids) - named)
        return [*(chosen["stages"] or ()), *unnamed]

    def execute_complete(self, context: Context, event: dict[str, Any]) -> JudgmentDecision:
        if "error" in event:
            return self._stopped_without_answer(context, event)
        answer = super().execute_complete(context=context, event=event)
        value = answer["chosen_options"][0]
        chosen = next(i for i in self.inputs if i["value"] == value)
        responded_by = answer["responded_by_user"]
        responded_at = answer["responded_at"]
        decision: JudgmentDecision = {
            "stage": self.task_id,
            "input": value,
            "decision": STOP if chosen["stop"] else "continue",
            "branches": self._branches(chosen) if self.branching and not chosen["stop"] else None,
            "form": dict(answer["params_input"] or {}),
            "responded_by": dict(responded_by) if responded_by else None,
            "responded_at": responded_at.isoformat() if isinstance(responded_at, datetime) else responded_at,
            "timed_out": bool(event.get("timedout")) or responded_by is None,
        }
        who = (
            decision["responded_by"]["name"] if decision["responded_by"] else f"timeout (on_timeout: {value})"
        )
        self.log.info("Judgment %r by %s at %s", value, who, decision["responded_at"])
        self._notify_decided(context, f"decision: *{value}* by {who}")
        if chosen["stop"]:
            context["ti"].xcom_push(key="return_value", value=decision)
            raise AirflowFailException(
                f"{self.task_id}: judgment {value!r} by {who}: the pipeline stops here"
            )
        if decision["branches"] is not None:
            # Skipping other branches ends execute_complete with an exception (DownstreamTasksSkipped),
            # so Airflow would never store the return value: publish the decision first.
            context["ti"].xcom_push(key="return_value", value=decision)
            self.do_branch(context, decision["branches"])
        return decision

    def _stopped_without_answer(self, context: Context, event: Mapping[str, Any]) -> JudgmentDecision:
        timed_out = event.get("error_type") == "timeout"
        decision: JudgmentDecision = {
            "stage": self.task_id,
            "input": None,
            "decision": STOP,
            "branches": None,
            "form": {},
            "responded_by": None,
            "responded_at": None,
            "timed_out": timed_out,
        }
        context["ti"].xcom_push(key="return_value", value=decision)
        if timed_out:
            self._notify_decided(
                context, f"no answer within {self.response_timeout}: stopped (on_timeout: stop)"
            )
            raise AirflowFailException(
                f"{self.task_id}: no judgment within {self.response_timeout}; on_timeout is 'stop', so the "
                "pipeline stops here (set on_timeout to an input to continue by default)"
            )
        raise AirflowFailException(f"{self.task_id}: the judgment could not be read: {event.get('error')}")

    def _notify_decided(self, context: Context, detail: str) -> None:
        for target in self.judgment_slack:
            if "decided" in target.get("when", ("judgment", "decided")):
                notifier = JudgmentSlackNotifier(
                    event="decided", slack_conn_id=target["connection"], channel=target["channel"]
                )
                notifier.detail = detail
                notifier(context)
