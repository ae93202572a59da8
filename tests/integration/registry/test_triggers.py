"""Registry triggers driven through ``run()`` against a real docker-registry (and the scripted one).

Covered for ``NewImageTagTrigger``: exact ``serialize()``, argument validation, the first start records
existing tags and fires for none, a new matching tag fires once with the full payload (``latest`` and
non-matching tags never fire), the watermark is persisted before the event is yielded, exactly one event
per tag across restarts, semver and push-time ordering of tags that appeared together, a repository
that does not exist yet, backoff through 5xx/429 without error events, and refused credentials that
keep the watcher polling until the connection is fixed.

For ``ImageTagTrigger``: an existing match ends the wait at once, excluded tags do not count, a
connection problem ends it with an error event, and end events carry the result as XCom.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent, TriggerEvent

from airflow_delivery.hooks.registry import ContainerRegistryHook
from airflow_delivery.triggers.registry import ImageTagTrigger, InMemoryStateStore, NewImageTagTrigger
from tests.fixtures.registry import RegistryServer, push_sample_image
from tests.integration.registry.scripted_registry import (
    ScriptedFailure,
    ScriptedRegistry,
    run_scripted_registry,
)
from tests.support import wait_until

pytestmark = pytest.mark.integration

TRIGGER_PATH = "airflow_delivery.triggers.registry.NewImageTagTrigger"
SEMVER = r"v\d+\.\d+\.\d+"
EVENT_TIMEOUT = 30.0


def _watcher(conn_id: str, repository: str, store: InMemoryStateStore, **kwargs: Any) -> NewImageTagTrigger:
    trigger = NewImageTagTrigger(
        repository=repository, registry_conn_id=conn_id, poll_interval=0.1, max_backoff=1.0, **kwargs
    )
    trigger.asset_state_store = store  # type: ignore[assignment]  # what the 3.3 triggerer injects
    return trigger


async def _next(events: AsyncIterator[TriggerEvent]) -> dict[str, Any]:
    event = await asyncio.wait_for(events.asend(None), EVENT_TIMEOUT)
    return dict(event.payload)


async def _until(predicate: Callable[[], Any], message: str) -> Any:
    """``wait_until`` in a thread, so the trigger keeps running on the event loop meanwhile."""
    return await asyncio.to_thread(wait_until, predicate, timeout=EVENT_TIMEOUT, message=message)


async def _push(hook: ContainerRegistryHook, repository: str, tag: str, **kwargs: Any) -> str:
    return await asyncio.to_thread(push_sample_image, hook, repository, tag, **kwargs)


async def _baseline(trigger: NewImageTagTrigger, store: InMemoryStateStore) -> dict[str, Any]:
    """Start ``trigger`` until it has recorded its first-start baseline, then stop it."""
    events = trigger.run()
    pending = asyncio.ensure_future(events.asend(None))
    state = await _until(lambda: store.values.get(trigger.state_key), "the first-start baseline")
    assert not pending.done(), "the first start must not fire for existing tags"
    pending.cancel()
    await asyncio.gather(pending, return_exceptions=True)
    await events.aclose()
    return dict(state)


def test_serialize_has_every_argument() -> None:
    trigger = NewImageTagTrigger(repository="team/app", tag_pattern=SEMVER)
    assert trigger.serialize() == (
        TRIGGER_PATH,
        {
            "repository": "team/app",
            "registry_conn_id": "registry_default",
            "tag_pattern": SEMVER,
            "order_by": "semver",
            "ignore_tags": ["latest"],
            "poll_interval": 60.0,
            "max_backoff": 900.0,
        },
    )
    classpath, kwargs = trigger.serialize()
    assert NewImageTagTrigger(**kwargs).serialize() == (classpath, kwargs)
    sensor_trigger = ImageTagTrigger(
        repository="team/app", exclude_tags=["b", "a", "b"], end_from_trigger=True
    )
    assert sensor_trigger.serialize()[1] == {
        "repository": "team/app",
        "registry_conn_id": "registry_default",
        "tag_pattern": None,
        "order_by": "semver",
        "ignore_tags": ["latest"],
        "exclude_tags": ["a", "b"],
        "poll_interval": 30.0,
        "max_backoff": 600.0,
        "end_from_trigger": True,
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tag_pattern": "v("}, "tag_pattern 'v\\(' is not a valid regular expression"),
        ({"order_by": "alphabetical"}, "order_by 'alphabetical' is not one of"),
        ({"repository": "Team/App"}, "invalid repository name 'Team/App'"),
        ({"poll_interval": 0}, "poll_interval must be a positive"),
        ({"poll_interval": 10, "max_backoff": 5}, "max_backoff \\(5\\) must be at least poll_interval"),
    ],
)
def test_bad_arguments_are_refused_when_the_dag_is_parsed(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NewImageTagTrigger(**{"repository": "team/app", **kwargs})
    with pytest.raises(ValueError, match=message):
        ImageTagTrigger(**{"repository": "team/app", **kwargs})


def test_first_start_records_then_a_new_tag_fires_once(
    registry_conn_id: str, registry_server: RegistryServer
) -> None:
    hook = ContainerRegistryHook(registry_conn_id)
    for tag in ("v1.0.0", "v1.1.0", "latest"):
        push_sample_image(hook, "watch/app", tag)

    async def scenario() -> None:
        store = InMemoryStateStore()
        trigger = _watcher(registry_conn_id, "watch/app", store, tag_pattern=SEMVER)
        events = trigger.run()
        pending = asyncio.ensure_future(events.asend(None))
        baseline = await _until(lambda: store.values.get(trigger.state_key), "the first-start baseline")
        assert sorted(baseline["seen"]) == ["v1.0.0", "v1.1.0"]
        assert not pending.done()

        await _push(hook, "watch/app", "latest", content="moved")  # ignored
        await _push(hook, "watch/app", "dev-7")  # does not match
        created = datetime(2025, 3, 1, tzinfo=UTC)
        digest = await _push(hook, "watch/app", "v1.2.0", created=created)
        event = await asyncio.wait_for(pending, EVENT_TIMEOUT)
        assert event.payload == {
            "repository": "watch/app",
            "tag": "v1.2.0",
            "digest": digest,
            "registry": registry_server.host,
            "image": f"{registry_server.host}/watch/app:v1.2.0@{digest}",
            "created": created.isoformat(),
        }
        # Persisted before the event was handed over.
        assert "v1.2.0" in store.values[trigger.state_key]["seen"]
        assert store.values[trigger.state_key]["last_digest"] == digest

        newer = await _push(hook, "watch/app", "v1.3.0")
        following = await _next(events)
        assert (following["tag"], following["digest"]) == ("v1.3.0", newer)
        await events.aclose()

    asyncio.run(scenario())


def test_exactly_one_event_per_tag_across_restarts_in_semver_order(registry_conn_id: str) -> None:
    hook = ContainerRegistryHook(registry_conn_id)
    push_sample_image(hook, "watch/restart", "v1.0.0")

    async def scenario() -> None:
        store = InMemoryStateStore()  # survives the "restarts": it stands for the asset state store
        await _baseline(_watcher(registry_conn_id, "watch/restart", store, tag_pattern=SEMVER), store)
        # Three tags appear while no triggerer runs, pushed out of version order.
        for tag in ("v2.0.0", "v1.10.0", "v1.9.0"):
            await _push(hook, "watch/restart", tag)

        first_run = _watcher(registry_conn_id, "watch/restart", store, tag_pattern=SEMVER).run()
        assert (await _next(first_run))["tag"] == "v1.9.0"
        await first_run.aclose()  # the triggerer restarts right after handing over one event

        second_run = _watcher(registry_conn_id, "watch/restart", store, tag_pattern=SEMVER).run()
        assert [(await _next(second_run))["tag"] for _ in range(2)] == ["v1.10.0", "v2.0.0"]
        await second_run.aclose()

        third_run = _watcher(registry_conn_id, "watch/restart", store, tag_pattern=SEMVER).run()
        await _push(hook, "watch/restart", "v2.0.1")
        assert (await _next(third_run))["tag"] == "v2.0.1"  # nothing old again
        await third_run.aclose()

    asyncio.run(scenario())


def test_push_time_order(registry_conn_id: str) -> None:
    hook = ContainerRegistryHook(registry_conn_id)

    async def scenario() -> None:
        store = InMemoryStateStore()
        trigger = _watcher(registry_conn_id, "watch/pushtime", store, order_by="push_time")
        await _baseline(trigger, store)  # the repository does not exist yet: an empty baseline
        for tag, month in (("build-c", 3), ("build-a", 1), ("build-b", 2)):
            await _push(hook, "watch/pushtime", tag, created=datetime(2025, month, 1, tzinfo=UTC))
        events = _watcher(registry_conn_id, "watch/pushtime", store, order_by="push_time").run()
        received = [await _next(events) for _ in range(3)]
        await events.aclose()
        assert [e["tag"] for e in received] == ["build-a", "build-b", "build-c"]
        assert [e["created"][:7] for e in received] == ["2025-01", "2025-02", "2025-03"]

    asyncio.run(scenario())


def test_repository_created_after_the_first_start(registry_conn_id: str) -> None:
    hook = ContainerRegistryHook(registry_conn_id)

    async def scenario() -> None:
        store = InMemoryStateStore()
        trigger = _watcher(registry_conn_id, "watch/later", store)
        events = trigger.run()
        pending = asyncio.ensure_future(events.asend(None))
        baseline = await _until(lambda: store.values.get(trigger.state_key), "an empty baseline")
        assert baseline["seen"] == []
        await _push(hook, "watch/later", "first")
        event = await asyncio.wait_for(pending, EVENT_TIMEOUT)
        assert event.payload["tag"] == "first"
        await events.aclose()

    asyncio.run(scenario())


def _scripted_conn(monkeypatch: pytest.MonkeyPatch, registry: ScriptedRegistry, password: str) -> str:
    connection = {
        "conn_type": "container_registry",
        "host": registry.url,
        "login": "robot",
        "password": password,
    }
    monkeypatch.setenv("AIRFLOW_CONN_SCRIPTED_WATCH", json.dumps(connection))
    return "scripted_watch"


def test_backs_off_through_server_errors_and_rate_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    scripted = ScriptedRegistry(tags={"team/app": ["v1.0.0"]}, users={"robot": "pw-123456"})
    with run_scripted_registry(scripted):
        conn_id = _scripted_conn(monkeypatch, scripted, "pw-123456")

        async def scenario() -> None:
            store = InMemoryStateStore()
            await _baseline(_watcher(conn_id, "team/app", store), store)
            # More failures than one poll retries: the trigger itself has to back off and poll again.
            scripted.failures.extend(
                [ScriptedFailure(503)] * 4 + [ScriptedFailure(429, {"Retry-After": "1"})]
            )
            scripted.tags["team/app"].append("v1.1.0")
            events = _watcher(conn_id, "team/app", store).run()
            payload = await _next(events)
            await events.aclose()
            assert payload["tag"] == "v1.1.0"
            assert payload["digest"] == scripted.digest("team/app", "v1.1.0")
            assert not scripted.failures  # every scripted failure was met, none became an event

        asyncio.run(scenario())


def test_refused_credentials_keep_polling_until_the_connection_is_fixed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scripted = ScriptedRegistry(tags={"team/app": ["v1.0.0"]}, users={"robot": "right-password"})
    with run_scripted_registry(scripted):
        conn_id = _scripted_conn(monkeypatch, scripted, "wrong-password")

        async def scenario() -> None:
            store = InMemoryStateStore()
            trigger = NewImageTagTrigger(
                repository="team/app", registry_conn_id=conn_id, poll_interval=0.05, max_backoff=0.2
            )
            trigger.asset_state_store = store  # type: ignore[assignment]
            events = trigger.run()
            pending = asyncio.ensure_future(events.asend(None))
            await _until(lambda: len(scripted.token_requests) >= 3, "three refused polls")
            assert not pending.done() and trigger.state_key not in store.values

            _scripted_conn(monkeypatch, scripted, "right-password")
            await _until(lambda: store.values.get(trigger.state_key), "a baseline once the password is fixed")
            scripted.tags["team/app"].append("v2.0.0")
            event = await asyncio.wait_for(pending, EVENT_TIMEOUT)
            assert event.payload["tag"] == "v2.0.0"
            await events.aclose()

        asyncio.run(scenario())


def test_without_a_state_store_the_trigger_still_baselines(registry_conn_id: str) -> None:
    hook = ContainerRegistryHook(registry_conn_id)
    push_sample_image(hook, "watch/nostore", "v1")

    async def scenario() -> None:
        trigger = NewImageTagTrigger(
            repository="watch/nostore", registry_conn_id=registry_conn_id, poll_interval=0.1
        )
        events = trigger.run()
        pending = asyncio.ensure_future(events.asend(None))
        store = await _until(lambda: trigger.fallback_store, "the in-memory fallback store")
        await _until(lambda: store.values.get(trigger.state_key), "the baseline")
        await _push(hook, "watch/nostore", "v2")
        assert (await asyncio.wait_for(pending, EVENT_TIMEOUT)).payload["tag"] == "v2"
        await events.aclose()

    asyncio.run(scenario())


# -- ImageTagTrigger (behind ImageTagSensor) ----------------------------------------------------------


def test_image_tag_trigger_waits_for_a_matching_tag(
    registry_conn_id: str, registry_server: RegistryServer
) -> None:
    hook = ContainerRegistryHook(registry_conn_id)
    push_sample_image(hook, "wait/app", "v1.0.0")
    push_sample_image(hook, "wait/app", "latest")

    async def scenario() -> None:
        # Already there: the newest existing match ends the wait at once.
        found = await _next(ImageTagTrigger(repository="wait/app", registry_conn_id=registry_conn_id).run())
        assert (found["status"], found["tag"]) == ("success", "v1.0.0")

        # Excluded tags do not count; a later push does.
        trigger = ImageTagTrigger(
            repository="wait/app",
            registry_conn_id=registry_conn_id,
            tag_pattern=r"v1\..*",
            exclude_tags=["v1.0.0"],
            poll_interval=0.1,
        )
        events = trigger.run()
        pending = asyncio.ensure_future(events.asend(None))
        await _push(hook, "wait/app", "v2.0.0")  # does not match
        digest = await _push(hook, "wait/app", "v1.0.1")
        payload = dict((await asyncio.wait_for(pending, EVENT_TIMEOUT)).payload)
        assert payload == {
            "status": "success",
            "repository": "wait/app",
            "tag": "v1.0.1",
            "digest": digest,
            "registry": registry_server.host,
            "image": f"{registry_server.host}/wait/app:v1.0.1@{digest}",
            "created": None,
        }

    asyncio.run(scenario())


def test_image_tag_trigger_end_events_and_errors(registry_conn_id: str) -> None:
    push_sample_image(ContainerRegistryHook(registry_conn_id), "wait/end", "v3")

    async def scenario() -> tuple[TriggerEvent, TriggerEvent]:
        success = await anext(
            ImageTagTrigger(
                repository="wait/end", registry_conn_id=registry_conn_id, end_from_trigger=True
            ).run()
        )
        failure = await anext(
            ImageTagTrigger(
                repository="wait/end", registry_conn_id="no_such_conn", end_from_trigger=True
            ).run()
        )
        return success, failure

    success, failure = asyncio.run(scenario())
    assert isinstance(success, TaskSuccessEvent)
    assert success.xcoms["return_value"]["tag"] == "v3"  # type: ignore[index]
    assert isinstance(failure, TaskFailedEvent)
    assert "'no_such_conn' is not defined" in failure.xcoms["return_value"]["message"]  # type: ignore[index]

    plain = asyncio.run(anext(ImageTagTrigger(repository="wait/end", registry_conn_id="no_such_conn").run()))
    assert plain.payload["status"] == "error" and "no_such_conn" in plain.payload["message"]
