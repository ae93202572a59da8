"""Wait inside a run until an image tag matching a pattern exists (e.g. the build of this release).

``ImageTagSensor`` checks once on the worker; if no tag matches yet it defers to ``ImageTagTrigger``
(or, with ``deferrable=False``, pokes from the worker). It returns the artifact it found, the same
``{"repository", "tag", "digest", "registry", "image", "created"}`` a tag watcher delivers, as XCom.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException

from airflow_delivery.artifacts.errors import RegistryError, RegistryNotFoundError
from airflow_delivery.artifacts.references import validate_repository
from airflow_delivery.artifacts.tags import (
    DEFAULT_IGNORED_TAGS,
    compile_tag_pattern,
    filter_tags,
    sort_tags,
    validate_order,
)
from airflow_delivery.hooks.registry import ContainerRegistryHook
from airflow_delivery.triggers.registry import ImageTagTrigger, tag_payload
from airflow_delivery.utils.deferral import ends_in_triggerer


class ImageTagSensor(BaseSensorOperator):
    """Succeed when ``repository`` has a tag matching ``tag_pattern``; return the newest one.

    :param repository: repository path (templated).
    :param tag_pattern: regular expression the whole tag must match (templated); ``None`` = any tag.
    :param registry_conn_id: ``container_registry`` connection (templated).
    :param order_by: ``semver`` or ``push_time``: which matching tag is the newest.
    :param ignore_tags: never matched (default ``["latest"]``).
    :param wait_for_new: only tags pushed after the sensor started count. Needs ``poke`` mode or
        ``deferrable=True`` (a rescheduled sensor would forget which tags it saw first).
    :param deferrable: wait in the triggerer instead of holding a worker slot.
    """

    template_fields: Sequence[str] = ("repository", "tag_pattern", "registry_conn_id")

    def __init__(
        self,
        *,
        repository: str,
        tag_pattern: str | None = None,
        registry_conn_id: str = ContainerRegistryHook.default_conn_name,
        order_by: str = "semver",
        ignore_tags: Sequence[str] | None = None,
        wait_for_new: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        validate_order(order_by)
        if wait_for_new and self.mode == "reschedule" and not deferrable:
            raise ValueError(
                f"{self.task_id}: wait_for_new=True needs mode='poke' or deferrable=True; in reschedule mode "
                "each attempt would take the tags present then as 'old'"
            )
        self.repository = repository
        self.tag_pattern = tag_pattern
        self.registry_conn_id = registry_conn_id
        self.order_by = order_by
        self.ignore_tags = list(DEFAULT_IGNORED_TAGS if ignore_tags is None else ignore_tags)
        self.wait_for_new = wait_for_new
        self.deferrable = deferrable
        self._exclude: list[str] = []

    def _validate_templated(self) -> None:
        # Templated fields are only final in execute(): check them here, naming the task.
        try:
            validate_repository(self.repository)
            compile_tag_pattern(self.tag_pattern)
        except ValueError as exc:
            raise ValueError(f"{self.task_id}: {exc}") from None

    def _hook(self) -> ContainerRegistryHook:
        return ContainerRegistryHook(self.registry_conn_id)

    def _matching(self, hook: ContainerRegistryHook) -> list[str]:
        try:
            tags = hook.list_tags(self.repository)
        except RegistryNotFoundError:
            return []
        excluded = set(self._exclude)
        return [t for t in filter_tags(tags, self.tag_pattern, ignore=self.ignore_tags) if t not in excluded]

    def _find(self) -> dict[str, Any] | None:
        hook = self._hook()
        matching = self._matching(hook)
        if not matching:
            return None
        if self.order_by == "semver":
            newest = hook.get_tag_info(self.repository, sort_tags(matching, "semver")[-1])
        else:
            described = {tag: hook.get_tag_info(self.repository, tag) for tag in matching}
            created = {tag: info.created for tag, info in described.items()}
            newest = described[sort_tags(described, "push_time", created)[-1]]
        return dict(tag_payload(hook.settings.registry, newest))

    def execute(self, context: Context) -> Any:
        self._validate_templated()
        if self.wait_for_new:
            self._exclude = self._matching(self._hook())
        if not self.deferrable:
            return super().execute(context)
        found = self.poke(context)
        if found:
            return found.xcom_value
        self.defer(
            trigger=ImageTagTrigger(
                repository=self.repository,
                registry_conn_id=self.registry_conn_id,
                tag_pattern=self.tag_pattern,
                order_by=self.order_by,
                ignore_tags=self.ignore_tags,
                exclude_tags=self._exclude,
                poll_interval=self.poke_interval,
                max_backoff=max(self.poke_interval, 600.0),
                end_from_trigger=ends_in_triggerer(),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def poke(self, context: Context) -> PokeReturnValue:
        try:
            found = self._find()
        except RegistryNotFoundError:
            found = None  # the tag vanished between listing and reading it: look again next time
        except RegistryError as error:
            if not error.transient:
                raise
            self.log.warning("Registry unavailable, will poke again: %s", error)
            found = None
        return PokeReturnValue(is_done=found is not None, xcom_value=found)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        if not event or event.get("status") != "success":
            message = (event or {}).get("message", "the trigger ended without a result")
            raise AirflowException(
                f"{self.task_id}: waiting for a tag of {self.repository} failed: {message}"
            )
        self.log.info("Found %s:%s (%s)", self.repository, event.get("tag"), event.get("digest"))
        return {key: value for key, value in event.items() if key != "status"}
