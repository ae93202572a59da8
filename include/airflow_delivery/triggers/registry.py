"""Registry triggers: start a run for every new image tag, or wait inside a run for a tag to appear.

``NewImageTagTrigger`` is an event trigger for an ``AssetWatcher``: it polls a repository's tags
(no inbound webhook needed, so it works for clusters and laptops the internet cannot reach) and yields
one event per new matching tag. Each event becomes an asset event and so a DAG run whose
``triggering_asset_events`` carry the payload ``{"repository", "tag", "digest", "registry", "image",
"created"}``.

Exactly one run per tag, across triggerer restarts: the set of tags already seen is kept in Airflow
3.3's asset state store (injected by the triggerer as ``self.asset_state_store``) and written *before*
each event is yielded. The first start records the existing tags as a baseline and fires for none of
them. A crash between the write and the hand-over of an event loses that one event rather than
deploying a tag twice; deploying twice is the worse failure for a delivery pipeline.

``ImageTagTrigger`` is the plain (task) trigger behind ``ImageTagSensor``: it ends with one event once
a matching tag exists.

Both back off on rate limits (honouring ``Retry-After``), server errors and network failures. The
watcher never turns a registry problem into an event, since an event would start a deployment: it logs
and keeps polling (slowly, for refused credentials, so a fixed connection is picked up). The sensor's
trigger ends the wait with an ``error`` event when retrying cannot help.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol, TypedDict

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from airflow_delivery.artifacts.errors import RegistryError, RegistryNotFoundError
from airflow_delivery.artifacts.protocol import RetryPolicy
from airflow_delivery.artifacts.references import validate_repository
from airflow_delivery.artifacts.tags import (
    DEFAULT_IGNORED_TAGS,
    TagInfo,
    TagOrder,
    compile_tag_pattern,
    filter_tags,
    sort_tags,
    validate_order,
)
from airflow_delivery.artifacts.watch import WatchState, new_matching_tags, state_key
from airflow_delivery.hooks.registry import ContainerRegistryHook
from airflow_delivery.utils.deferral import final_event

# Inside one poll the hook retries briefly; longer outages are the trigger's backoff, between polls.
_POLL_RETRIES = RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=5.0, max_retry_after=30.0)


class NewImageTagPayload(TypedDict):
    """The event payload, and so the artifact a triggered run deploys."""

    repository: str
    tag: str
    digest: str
    registry: str
    image: str  # registry/repository:tag@digest, ready for a Kubernetes manifest
    created: str | None  # ISO-8601 creation time from the image config, if it has one


class ImageTagEvent(TypedDict, total=False):
    status: Literal["success", "error"]
    message: str
    repository: str
    tag: str
    digest: str
    registry: str
    image: str
    created: str | None


class StateStore(Protocol):
    """The part of Airflow's ``AssetStateStoreAccessors`` a watcher uses."""

    async def aget(self, key: str, default: Any = None) -> Any: ...

    async def aset(self, key: str, value: Any) -> None: ...


class InMemoryStateStore:
    """A process-local ``StateStore``: used when no asset state store is injected (Airflow < 3.3, or a
    trigger run outside a watcher). It survives nothing, so a restart takes a fresh baseline."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = value


def _classpath(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def tag_payload(registry: str, info: TagInfo) -> NewImageTagPayload:
    """The artifact an event carries: what a deployment needs to pin exactly this image."""
    return {
        "repository": info.repository,
        "tag": info.tag,
        "digest": info.digest,
        "registry": registry,
        "image": f"{registry}/{info.repository}:{info.tag}@{info.digest}",
        "created": info.created.isoformat() if info.created else None,
    }


class _RegistryPoller:
    """Shared by both triggers: argument checks, the hook, tag selection and backoff."""

    def __init__(
        self,
        *,
        repository: str,
        registry_conn_id: str,
        tag_pattern: str | None,
        order_by: str,
        ignore_tags: Sequence[str] | None,
        poll_interval: float,
        max_backoff: float,
    ) -> None:
        validate_repository(repository)
        self.pattern = compile_tag_pattern(tag_pattern)
        self.order: TagOrder = validate_order(order_by)
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}")
        if max_backoff < poll_interval:
            raise ValueError(f"max_backoff ({max_backoff}) must be at least poll_interval ({poll_interval})")
        self.repository = repository
        self.registry_conn_id = registry_conn_id
        self.ignore_tags = list(DEFAULT_IGNORED_TAGS if ignore_tags is None else ignore_tags)
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.failures = 0
        self._hook: ContainerRegistryHook | None = None

    @property
    def hook(self) -> ContainerRegistryHook:
        if self._hook is None:
            self._hook = ContainerRegistryHook(self.registry_conn_id, retry_policy=_POLL_RETRIES)
        return self._hook

    async def list_tags(self) -> list[str]:
        """Every tag; a repository that does not exist yet has none (its first push is a new tag)."""
        try:
            return await self.hook.alist_tags(self.repository)
        except RegistryNotFoundError:
            return []

    async def describe(self, tags: Sequence[str]) -> list[TagInfo]:
        """Digest and creation time of each tag, oldest first by ``order``; vanished tags are dropped."""
        infos: dict[str, TagInfo] = {}
        for tag in tags:
            try:
                infos[tag] = await self.hook.aget_tag_info(self.repository, tag)
            except RegistryNotFoundError:
                continue  # deleted between listing and reading: nothing to deploy
        created: dict[str, datetime | None] = {tag: info.created for tag, info in infos.items()}
        return [infos[tag] for tag in sort_tags(infos, self.order, created)]

    async def registry(self) -> str:
        return (await self.hook.aget_settings()).registry

    def backoff(self, error: RegistryError, log: Any) -> float:
        """How long to wait after a failed poll; logs why. Non-transient errors wait the longest."""
        self.failures += 1
        if not error.transient:
            # Wrong credentials or a bad connection: keep polling slowly so a fixed connection is
            # picked up without redeploying, and re-read the connection next time.
            self._hook = None
            delay = self.max_backoff
            log.error("registry poll for %s failed; retrying in %.0fs: %s", self.repository, delay, error)
            return delay
        retry_after: float | None = getattr(error, "retry_after", None)
        delay = min(self.max_backoff, self.poll_interval * 2.0 ** min(self.failures, 16))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff))
        log.warning("registry poll for %s failed; backing off %.1fs: %s", self.repository, delay, error)
        return delay

    def succeeded(self) -> None:
        self.failures = 0


class NewImageTagTrigger(BaseEventTrigger):
    """Yield one event per new tag of ``repository`` that matches ``tag_pattern``, for an ``AssetWatcher``.

    :param repository: repository path (``team/app``; Docker Hub official images as ``nginx``).
    :param registry_conn_id: ``container_registry`` connection.
    :param tag_pattern: regular expression the whole tag must match; ``None`` accepts every tag.
    :param order_by: ``semver`` or ``push_time`` (image config ``created``): when several tags are new
        at one poll, their runs start oldest first.
    :param ignore_tags: tags never deployed (default ``["latest"]``).
    :param poll_interval: seconds between polls.
    :param max_backoff: longest wait after failures (rate limits, outages, refused credentials).
    """

    def __init__(
        self,
        *,
        repository: str,
        registry_conn_id: str = ContainerRegistryHook.default_conn_name,
        tag_pattern: str | None = None,
        order_by: str = "semver",
        ignore_tags: Sequence[str] | None = None,
        poll_interval: float = 60.0,
        max_backoff: float = 900.0,
    ) -> None:
        super().__init__()
        self._poller = _RegistryPoller(
            repository=repository,
            registry_conn_id=registry_conn_id,
            tag_pattern=tag_pattern,
            order_by=order_by,
            ignore_tags=ignore_tags,
            poll_interval=poll_interval,
            max_backoff=max_backoff,
        )
        self.repository = repository
        self.registry_conn_id = registry_conn_id
        self.tag_pattern = tag_pattern
        self.order_by = order_by
        self.ignore_tags = list(self._poller.ignore_tags)
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.fallback_store: InMemoryStateStore | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            _classpath(self),
            {
                "repository": self.repository,
                "registry_conn_id": self.registry_conn_id,
                "tag_pattern": self.tag_pattern,
                "order_by": self.order_by,
                "ignore_tags": list(self.ignore_tags),
                "poll_interval": self.poll_interval,
                "max_backoff": self.max_backoff,
            },
        )

    @property
    def state_key(self) -> str:
        return state_key(self.registry_conn_id, self.repository, self.tag_pattern, self.ignore_tags)

    def _store(self) -> StateStore:
        store = getattr(self, "asset_state_store", None)
        if store is None:
            self.log.warning(
                "No asset state store for %s (Airflow < 3.3 or not run by an AssetWatcher): seen tags are "
                "kept in memory only, so a restart takes a new baseline",
                self.repository,
            )
            if self.fallback_store is None:
                self.fallback_store = InMemoryStateStore()
            return self.fallback_store
        return store  # type: ignore[no-any-return]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        store = self._store()
        key = self.state_key
        poller = self._poller
        while True:
            try:
                state = WatchState.from_json(await store.aget(key, None))
                tags = await poller.list_tags()
                if state is None:
                    baseline = WatchState(
                        seen=frozenset(filter_tags(tags, poller.pattern, ignore=poller.ignore_tags))
                    )
                    await store.aset(key, baseline.to_json())
                    self.log.info(
                        "First start for %s: recorded %d existing tag(s); runs start for new tags only",
                        self.repository,
                        len(baseline.seen),
                    )
                    poller.succeeded()
                    await asyncio.sleep(self.poll_interval)
                    continue
                pruned = state.forgetting_all_but(tags)
                if pruned != state:
                    state = pruned
                    await store.aset(key, state.to_json())
                fresh = new_matching_tags(state, tags, poller.pattern, poller.ignore_tags)
                infos = await poller.describe(fresh) if fresh else []
                registry = await poller.registry()
            except RegistryError as error:
                await asyncio.sleep(poller.backoff(error, self.log))
                continue
            poller.succeeded()
            for info in infos:
                state = state.seeing(info.tag, info.digest)
                await store.aset(key, state.to_json())  # before yielding: at most one run per tag
                payload = tag_payload(registry, info)
                self.log.info("New tag %s:%s (%s)", self.repository, info.tag, info.digest)
                yield TriggerEvent(dict(payload))
            await asyncio.sleep(self.poll_interval)


class ImageTagTrigger(BaseTrigger):
    """Wait until ``repository`` has a tag matching ``tag_pattern``; one event with the newest such tag.

    :param exclude_tags: tags that do not count (``ImageTagSensor(wait_for_new=True)`` passes the tags
        present when it started, so only a tag pushed afterwards ends the wait).
    :param end_from_trigger: finish the task from the triggerer (see ``airflow_delivery.utils.deferral``)
        with the payload as its return value, instead of resuming ``execute_complete`` on a worker.

    Other parameters as ``NewImageTagTrigger``. Registry errors that retrying cannot fix (refused
    credentials, bad connection) end the wait with an ``error`` event naming the cause.
    """

    def __init__(
        self,
        *,
        repository: str,
        registry_conn_id: str = ContainerRegistryHook.default_conn_name,
        tag_pattern: str | None = None,
        order_by: str = "semver",
        ignore_tags: Sequence[str] | None = None,
        exclude_tags: Sequence[str] | None = None,
        poll_interval: float = 30.0,
        max_backoff: float = 600.0,
        end_from_trigger: bool = False,
    ) -> None:
        super().__init__()
        self._poller = _RegistryPoller(
            repository=repository,
            registry_conn_id=registry_conn_id,
            tag_pattern=tag_pattern,
            order_by=order_by,
            ignore_tags=ignore_tags,
            poll_interval=poll_interval,
            max_backoff=max_backoff,
        )
        self.repository = repository
        self.registry_conn_id = registry_conn_id
        self.tag_pattern = tag_pattern
        self.order_by = order_by
        self.ignore_tags = list(self._poller.ignore_tags)
        self.exclude_tags = sorted(set(exclude_tags or ()))
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.end_from_trigger = end_from_trigger

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            _classpath(self),
            {
                "repository": self.repository,
                "registry_conn_id": self.registry_conn_id,
                "tag_pattern": self.tag_pattern,
                "order_by": self.order_by,
                "ignore_tags": list(self.ignore_tags),
                "exclude_tags": list(self.exclude_tags),
                "poll_interval": self.poll_interval,
                "max_backoff": self.max_backoff,
                "end_from_trigger": self.end_from_trigger,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        poller = self._poller
        excluded = WatchState(seen=frozenset(self.exclude_tags))
        while True:
            try:
                tags = await poller.list_tags()
                matching = new_matching_tags(excluded, tags, poller.pattern, poller.ignore_tags)
                newest = await self._newest(matching)
                registry = await poller.registry() if newest else ""
            except RegistryError as error:
                if not error.transient:
                    self.log.error("Stopped waiting for a tag of %s: %s", self.repository, error)
                    event: ImageTagEvent = {"status": "error", "message": str(error)}
                    yield final_event(
                        end_from_trigger=self.end_from_trigger, succeeded=False, result=dict(event)
                    )
                    return
                await asyncio.sleep(poller.backoff(error, self.log))
                continue
            poller.succeeded()
            if newest is not None:
                self.log.info("Found %s:%s (%s)", self.repository, newest.tag, newest.digest)
                result = {"status": "success", **tag_payload(registry, newest)}
                yield final_event(end_from_trigger=self.end_from_trigger, succeeded=True, result=result)
                return
            await asyncio.sleep(self.poll_interval)

    async def _newest(self, matching: list[str]) -> TagInfo | None:
        if not matching:
            return None
        if self.order_by == "semver":
            # Only the newest needs a digest; fall back to older ones if it vanished meanwhile.
            for tag in reversed(sort_tags(matching, "semver")):
                described = await self._poller.describe([tag])
                if described:
                    return described[0]
            return None
        described = await self._poller.describe(matching)
        return described[-1] if described else None
