"""Tag-watcher bookkeeping: new-tag detection, state round trips, forgetting, and state keys."""

from __future__ import annotations

import re

from airflow_delivery.artifacts.watch import STATE_VERSION, WatchState, new_matching_tags, state_key


def test_new_matching_tags_skips_seen_ignored_and_non_matching() -> None:
    state = WatchState(seen=frozenset({"v1.0.0"}))
    current = ["v1.0.0", "v1.1.0", "latest", "dev-3", "v1.2.0"]
    assert new_matching_tags(state, current, re.compile(r"v[\d.]+"), ["latest"]) == ["v1.1.0", "v1.2.0"]
    assert new_matching_tags(state, current, None, []) == ["v1.1.0", "latest", "dev-3", "v1.2.0"]


def test_state_round_trip_and_transitions() -> None:
    state = WatchState(seen=frozenset({"b", "a"})).seeing("c", "sha256:cc")
    stored = state.to_json()
    assert stored == {
        "version": STATE_VERSION,
        "seen": ["a", "b", "c"],
        "last_tag": "c",
        "last_digest": "sha256:cc",
    }
    assert WatchState.from_json(stored) == state
    assert state.forgetting_all_but(["a", "c", "zzz"]).seen == {"a", "c"}


def test_unreadable_state_means_take_a_new_baseline() -> None:
    for stored in (
        None,
        "x",
        {"seen": ["a"]},
        {"version": 99, "seen": []},
        {"version": STATE_VERSION, "seen": [1]},
    ):
        assert WatchState.from_json(stored) is None


def test_state_key_depends_on_the_filter() -> None:
    key = state_key("reg", "team/app", r"v.*", ["latest"])
    assert key.startswith("new_image_tag:team/app:")
    assert key == state_key("reg", "team/app", r"v.*", ["latest", "latest"])
    assert key != state_key("reg", "team/app", r"rc.*", ["latest"])
    assert key != state_key("other", "team/app", r"v.*", ["latest"])
    assert key != state_key("reg", "team/app", r"v.*", [])
