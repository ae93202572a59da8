"""Pipeline to pipeline: a successful run publishes what it deployed; a downstream pipeline runs on it.

A pipeline with ``publish: true`` ends every successful run with a ``publish`` task that updates the
asset ``delivery.pipeline.<name>``; the asset event's extra is the :class:`Publication` (pipeline, run
id, artifacts). A pipeline with a trigger ``{type: pipeline, pipeline: <name>}`` is scheduled on that
asset, and :func:`artifacts_from_publications` gives its run the upstream's artifacts, so what passed
staging is what production deploys.

Pure: the Airflow ``Asset`` is imported only inside :func:`pipeline_asset`, which the factory and the
operator call, so validating pipelines never needs Airflow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

PIPELINE_ASSET_PREFIX = "delivery.pipeline."
PUBLISH_TASK_ID = "publish"


class Publication(TypedDict):
    """The extra of a pipeline's asset event: what one successful run deployed."""

    pipeline: str
    run_id: str
    artifacts: dict[str, str]


def pipeline_asset_name(pipeline: str) -> str:
    """Name of the asset ``pipeline`` publishes to; pipeline names have no dots, so it cannot clash
    with the image and git assets (``delivery.<pipeline>.image.<artifact>``, ``delivery.git.…``)."""
    return f"{PIPELINE_ASSET_PREFIX}{pipeline}"


def pipeline_of_asset(name: str) -> str | None:
    """The publishing pipeline of an asset name, or ``None`` for any other asset."""
    if not name.startswith(PIPELINE_ASSET_PREFIX):
        return None
    rest = name[len(PIPELINE_ASSET_PREFIX) :]
    return rest if rest and "." not in rest else None


def pipeline_asset(pipeline: str) -> Any:
    """The Airflow asset of ``pipeline``: built the same way by the publisher and every consumer,
    because Airflow matches assets by name *and* URI."""
    from airflow.sdk import Asset

    return Asset(
        name=pipeline_asset_name(pipeline), uri=f"x-delivery-pipeline://{pipeline}", group="delivery"
    )


def publication(pipeline: str, run_id: str, artifacts: Mapping[str, Any]) -> Publication:
    return {
        "pipeline": pipeline,
        "run_id": run_id,
        "artifacts": {str(name): str(version) for name, version in artifacts.items()},
    }


def artifacts_from_publications(events: Mapping[Any, Iterable[Any]]) -> dict[str, str]:
    """Artifacts published by upstream pipelines among a run's triggering asset events.

    ``events`` is ``context["triggering_asset_events"]`` (asset -> events with an ``extra``). When an
    upstream succeeded several times before this run started, its newest publication wins (events are
    ordered by their timestamp when they have one).
    """
    bound: dict[str, str] = {}
    found: list[tuple[Any, int, Mapping[str, Any]]] = []
    for asset in events:
        if pipeline_of_asset(getattr(asset, "name", "") or "") is None:
            continue
        for event in events[asset]:
            extra = getattr(event, "extra", None) or {}
            artifacts = extra.get("artifacts")
            if isinstance(artifacts, Mapping):
                found.append((getattr(event, "timestamp", None), len(found), artifacts))
    if all(stamp is not None for stamp, _, _ in found):
        found.sort(key=lambda item: (item[0], item[1]))
    for _, _, artifacts in found:
        bound.update({str(name): str(version) for name, version in artifacts.items()})
    return bound
