"""ImageTagSensor against a real docker-registry: poke mode, deferral and the resume path.

Covered: poking until a matching tag exists (semver and push-time choice of the newest), returning
at once when a match already exists, deferring with the exact trigger arguments (including the tags
excluded by ``wait_for_new`` and an absolute timeout), the trigger's event resuming
``execute_complete``, error events failing the task with the cause, bad templated values, and the
reschedule-mode guard.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from airflow_delivery.artifacts.errors import RegistryUnauthorizedError
from airflow_delivery.hooks.registry import ContainerRegistryHook
from airflow_delivery.sensors.registry import ImageTagSensor
from airflow_delivery.triggers.registry import ImageTagTrigger
from tests.fixtures.registry import RegistryServer, push_sample_image

pytestmark = pytest.mark.integration


def _sensor(conn_id: str, repository: str, **kwargs: object) -> ImageTagSensor:
    return ImageTagSensor(
        task_id="wait_for_image",
        repository=repository,
        registry_conn_id=conn_id,
        poke_interval=0.1,
        timeout=120,
        **kwargs,  # type: ignore[arg-type]
    )


def test_poke_finds_the_newest_matching_tag(registry_conn_id: str, registry_server: RegistryServer) -> None:
    hook = ContainerRegistryHook(registry_conn_id)
    sensor = _sensor(registry_conn_id, "sense/app", tag_pattern=r"v\d+\.\d+\.\d+", deferrable=False)
    assert not sensor.poke({})  # type: ignore[arg-type]  # repository does not exist yet
    push_sample_image(hook, "sense/app", "latest")
    push_sample_image(hook, "sense/app", "v1.9.0")
    digest = push_sample_image(hook, "sense/app", "v1.10.0")
    result = sensor.poke({})  # type: ignore[arg-type]
    assert result.is_done
    assert result.xcom_value["tag"] == "v1.10.0" and result.xcom_value["digest"] == digest
    assert result.xcom_value["image"] == f"{registry_server.host}/sense/app:v1.10.0@{digest}"

    by_time = _sensor(registry_conn_id, "sense/app", order_by="push_time", deferrable=False)
    push_sample_image(hook, "sense/app", "old-build", created=datetime(2020, 1, 1, tzinfo=UTC))
    push_sample_image(hook, "sense/app", "new-build", created=datetime(2030, 1, 1, tzinfo=UTC))
    assert by_time.poke({}).xcom_value["tag"] == "new-build"  # type: ignore[arg-type]


def test_poke_mode_execute_returns_the_artifact(registry_conn_id: str) -> None:
    push_sample_image(ContainerRegistryHook(registry_conn_id), "sense/poke", "2.0.0")
    result = _sensor(registry_conn_id, "sense/poke", deferrable=False).execute({})  # type: ignore[arg-type]
    assert result["tag"] == "2.0.0"


def test_deferrable_returns_at_once_when_a_match_exists(registry_conn_id: str) -> None:
    push_sample_image(ContainerRegistryHook(registry_conn_id), "sense/now", "v5")
    assert _sensor(registry_conn_id, "sense/now", deferrable=True).execute({})["tag"] == "v5"  # type: ignore[arg-type]


def test_defers_then_resumes_with_the_trigger_event(registry_conn_id: str) -> None:
    hook = ContainerRegistryHook(registry_conn_id)
    push_sample_image(hook, "sense/defer", "v1.0.0")
    sensor = _sensor(
        registry_conn_id, "sense/defer", tag_pattern=r"v1\..*", wait_for_new=True, deferrable=True
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})  # type: ignore[arg-type]
    trigger = deferred.value.trigger
    assert isinstance(trigger, ImageTagTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=120)
    kwargs = trigger.serialize()[1]
    assert kwargs["exclude_tags"] == ["v1.0.0"] and kwargs["tag_pattern"] == r"v1\..*"
    assert kwargs["poll_interval"] == 0.1 and kwargs["registry_conn_id"] == registry_conn_id

    # What the triggerer does next: run the trigger (plain event, as in a resumed task) until a push.
    plain = ImageTagTrigger(**{**kwargs, "end_from_trigger": False})
    digest = push_sample_image(hook, "sense/defer", "v1.1.0")
    event = asyncio.run(asyncio.wait_for(anext(plain.run()), 30))
    result = sensor.execute_complete({}, event=dict(event.payload))  # type: ignore[arg-type]
    assert (result["tag"], result["digest"]) == ("v1.1.0", digest)
    assert "status" not in result


def test_error_event_fails_the_task_with_the_cause(registry_conn_id: str) -> None:
    sensor = _sensor(registry_conn_id, "sense/err", deferrable=True)
    with pytest.raises(AirflowException, match="wait_for_image: waiting for a tag of sense/err failed: boom"):
        sensor.execute_complete({}, event={"status": "error", "message": "boom"})  # type: ignore[arg-type]
    with pytest.raises(AirflowException, match="without a result"):
        sensor.execute_complete({}, event=None)  # type: ignore[arg-type]


def test_refused_credentials_fail_the_poke(
    auth_registry_server: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SENSE_ANON", auth_registry_server.connection_json())
    with pytest.raises(RegistryUnauthorizedError, match="sense_anon"):
        _sensor("sense_anon", "private/app", deferrable=False).poke({})  # type: ignore[arg-type]


def test_bad_values_are_named() -> None:
    with pytest.raises(
        ValueError, match="wait_for_image: tag_pattern 'v\\(' is not a valid regular expression"
    ):
        _sensor("any", "sense/app", tag_pattern="v(", deferrable=False).execute({})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="wait_for_image: invalid repository name"):
        _sensor("any", "Sense/App", deferrable=False).execute({})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="order_by 'newest'"):
        _sensor("any", "sense/app", order_by="newest")
    with pytest.raises(ValueError, match="wait_for_new=True needs mode='poke' or deferrable=True"):
        _sensor("any", "sense/app", wait_for_new=True, mode="reschedule", deferrable=False)
