"""What pipeline stages evaluate while a run is going: conditions and the names they can read.

Kept apart from the pure spec because it reads the run's context (params, conf, XComs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_delivery.pipeline.conditions import ConditionError, LazyResults, evaluate
from airflow_delivery.pipeline.publish import artifacts_from_publications
from airflow_delivery.utils.xcom import stage_result


IMAGE_ASSET_PREFIX = "delivery."
GIT_ASSET_PREFIX = "delivery.git."
_IMAGE_ASSET_MARK = ".image."


def image_asset_name(pipeline: str, artifact: str) -> str:
    """Name of the asset a registry trigger of ``pipeline`` updates; it says which artifact a tag binds."""
    return f"{IMAGE_ASSET_PREFIX}{pipeline}{_IMAGE_ASSET_MARK}{artifact}"


def _artifact_of_asset(name: str) -> str | None:
    if name.startswith(IMAGE_ASSET_PREFIX) and _IMAGE_ASSET_MARK in name:
        return name.rsplit(_IMAGE_ASSET_MARK, 1)[1]
    return None


def _from_registry_events(context: Any) -> dict[str, str]:
    """Tags (pinned by digest) announced by the registry watchers that started this run."""
    bound: dict[str, str] = {}
    events = context.get("triggering_asset_events") or {}
    for asset in events:
        artifact = _artifact_of_asset(getattr(asset, "name", "") or "")
        if artifact is None:
            continue
        for event in events[asset]:
            payload = (getattr(event, "extra", None) or {}).get("payload") or {}
            if payload.get("tag"):
                digest = payload.get("digest")
                bound[artifact] = f"{payload['tag']}@{digest}" if digest else str(payload["tag"])
    return bound


def run_commit(context: Any) -> str | None:
    """The commit that started this run, when a git watcher did."""
    events = context.get("triggering_asset_events") or {}
    for asset in events:
        if (getattr(asset, "name", "") or "").startswith(GIT_ASSET_PREFIX):
            for event in reversed(list(events[asset])):
                commit = ((getattr(event, "extra", None) or {}).get("payload") or {}).get("commit")
                if commit:
                    return str(commit)
    return None


def run_artifacts(context: Any) -> dict[str, str]:
    """Artifacts bound for this run, later sources winning: what an upstream pipeline published
    (pipeline triggers), a registry event's tag, then explicit ``artifacts`` in params/conf.

    Explicit artifacts win: a person who names a version gets that version.
    """
    bound: dict[str, str] = artifacts_from_publications(context.get("triggering_asset_events") or {})
    bound.update(_from_registry_events(context))
    params = context.get("params") or {}
    if isinstance(params.get("artifacts"), dict):
        bound.update({str(k): str(v) for k, v in params["artifacts"].items()})
    dag_run = context.get("dag_run")
    conf = getattr(dag_run, "conf", None) or {}
    if isinstance(conf.get("artifacts"), dict):
        bound.update({str(k): str(v) for k, v in conf["artifacts"].items()})
    return bound


def condition_namespace(context: Any, upstream_ids: set[str]) -> dict[str, Any]:
    ti = context["ti"]
    dag_run = context.get("dag_run")
    return {
        "params": dict(context.get("params") or {}),
        "artifacts": run_artifacts(context),
        "stages": LazyResults(upstream_ids, lambda stage_id: stage_result(ti, stage_id)),
        "run": {
            "id": context.get("run_id"),
            "commit": run_commit(context),
            "conf": dict(getattr(dag_run, "conf", None) or {}),
        },
    }


@dataclass(frozen=True)
class StageCondition:
    """``pre_execute`` hook of a stage with ``when``: skip the stage when the expression is false."""

    stage_id: str
    expression: str
    upstream_ids: tuple[str, ...]

    def __call__(self, context: Any) -> None:
        from airflow.sdk.exceptions import AirflowSkipException

        ti = context["ti"]
        if getattr(ti, "next_method", None):
            return  # resuming after a deferral: the condition held when the stage started
        try:
            holds = evaluate(self.expression, condition_namespace(context, set(self.upstream_ids)))
        except ConditionError as exc:
            raise ValueError(f"stage {self.stage_id}: when: {exc}") from None
        if not holds:
            raise AirflowSkipException(f"stage {self.stage_id} skipped: {self.expression!r} is false")
