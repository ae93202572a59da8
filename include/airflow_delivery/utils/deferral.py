"""How our deferrable tasks finish: in the triggerer, never by re-queueing the worker.

Airflow 3.3 has a race (apache/airflow#66374, #72716): when a trigger fires before the worker process
that deferred has fully exited, the stale "success" of that exit reaches the scheduler after the task
was re-queued for the same try, and the resumed task is failed as "state changed externally". Our
waits, rollouts and canary intervals are often shorter than a busy worker's exit, so instead of
resuming on a worker, our triggers end the task directly (``TaskSuccessEvent``/``TaskFailedEvent`` with
the result as XCom). That also saves a scheduler round trip per stage.

``dag.test()`` runs triggers inline and always resumes ``next_method`` (it drops end events' XComs), so
there the same triggers send a plain event to ``execute_complete`` instead.
"""

from __future__ import annotations

from typing import Any

from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent, TriggerEvent


def ends_in_triggerer() -> bool:
    """False only under ``dag.test()``'s in-process supervisor, which cannot take end events."""
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:  # pragma: no cover - always present on Airflow 3
        return True
    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    return type(comms).__name__ != "InProcessSupervisorComms"


def final_event(*, end_from_trigger: bool, succeeded: bool, result: dict[str, Any]) -> TriggerEvent:
    """The event that finishes a task: an end event with ``result`` as return value, or a plain one."""
    if end_from_trigger:
        cls = TaskSuccessEvent if succeeded else TaskFailedEvent
        return cls(xcoms={"return_value": result})
    return TriggerEvent(result)
