"""Which artifacts a run deploys: registry events, then explicit artifacts (which win)."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from airflow_delivery.pipeline.runtime import image_asset_name, run_artifacts


@dataclass(frozen=True)
class AssetKey:
    """What iterating ``triggering_asset_events`` yields: a hashable asset with a name."""

    name: str


def event(tag: str, digest: str | None) -> SimpleNamespace:
    return SimpleNamespace(extra={"from_trigger": True, "payload": {"tag": tag, "digest": digest}})


def test_registry_event_binds_its_artifact_pinned_by_digest() -> None:
    asset = AssetKey(image_asset_name("shop", "api"))
    other = AssetKey("some.other.asset")
    context = {"triggering_asset_events": {asset: [event("v2", "sha256:ab")], other: [event("x", None)]}}
    assert run_artifacts(context) == {"api": "v2@sha256:ab"}


def test_explicit_artifacts_win_over_events() -> None:
    asset = AssetKey(image_asset_name("shop", "api"))
    context = {
        "triggering_asset_events": {asset: [event("v2", None)]},
        "params": {"artifacts": {"api": "v1"}},
        "dag_run": SimpleNamespace(conf={"artifacts": {"web": "v9"}}),
    }
    assert run_artifacts(context) == {"api": "v1", "web": "v9"}


def test_no_artifacts() -> None:
    assert run_artifacts({}) == {}


def test_git_event_gives_the_run_its_commit() -> None:
    from airflow_delivery.pipeline.runtime import GIT_ASSET_PREFIX, run_commit

    asset = AssetKey(f"{GIT_ASSET_PREFIX}shop.main")
    commit = SimpleNamespace(extra={"payload": {"commit": "a" * 40}})
    assert run_commit({"triggering_asset_events": {asset: [commit]}}) == "a" * 40
    assert run_commit({}) is None
