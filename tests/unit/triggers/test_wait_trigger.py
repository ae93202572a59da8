from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from airflow.triggers.base import TaskSuccessEvent, TriggerEvent

from airflow_delivery.triggers.wait import WaitUntilTrigger

CLASSPATH = "airflow_delivery.triggers.wait.WaitUntilTrigger"


def test_serialize_keeps_the_absolute_moment() -> None:
    moment = "2030-01-01T00:00:00+00:00"
    assert WaitUntilTrigger(moment).serialize() == (CLASSPATH, {"moment": moment, "end_from_trigger": False})


def test_naive_moment_is_rejected() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        WaitUntilTrigger("2030-01-01T00:00:00")


@pytest.mark.parametrize("end_from_trigger", [False, True])
def test_fires_at_the_moment_not_before(end_from_trigger: bool) -> None:
    moment = datetime.now(timezone.utc) + timedelta(seconds=0.3)
    trigger = WaitUntilTrigger(moment.isoformat(), end_from_trigger=end_from_trigger)

    event = asyncio.run(trigger.run().asend(None))

    assert datetime.now(timezone.utc) >= moment
    if end_from_trigger:
        assert isinstance(event, TaskSuccessEvent)
        assert event.xcoms["return_value"]["moment"] == moment.isoformat()
    else:
        assert type(event) is TriggerEvent
        assert event.payload["status"] == "success"
        fired = datetime.fromisoformat(event.payload["fired_at"])
        assert fired >= moment


def test_moment_in_the_past_fires_at_once() -> None:
    trigger = WaitUntilTrigger((datetime.now(timezone.utc) - timedelta(hours=1)).isoformat())
    event = asyncio.run(asyncio.wait_for(trigger.run().asend(None), timeout=5))
    assert event.payload["status"] == "success"
