"""The bookkeeping of a tag watcher, pure: which tags are new, and what to remember between polls.

A watcher starts exactly one run per new tag, also across triggerer restarts. It therefore remembers
the set of matching tags it has already seen (``WatchState``, stored as JSON in Airflow's asset state
store) and, on each poll, acts only on matching tags outside that set. Tags that disappear from the
registry are forgotten, so a tag deleted and pushed again counts as new.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from airflow_delivery.artifacts.tags import filter_tags

STATE_VERSION = 1


@dataclass(frozen=True)
class WatchState:
    """What a watcher knows: the matching tags already seen, and the last tag it fired for."""

    seen: frozenset[str]
    last_tag: str | None = None
    last_digest: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "seen": sorted(self.seen),
            "last_tag": self.last_tag,
            "last_digest": self.last_digest,
        }

    @classmethod
    def from_json(cls, value: Any) -> WatchState | None:
        """The stored state, or ``None`` when nothing (or something unreadable) was stored.

        ``None`` makes the watcher take a fresh baseline, which never starts runs for old tags.
        """
        if not isinstance(value, dict) or value.get("version") != STATE_VERSION:
            return None
        seen = value.get("seen")
        if not isinstance(seen, list) or not all(isinstance(tag, str) for tag in seen):
            return None
        last_tag, last_digest = value.get("last_tag"), value.get("last_digest")
        return cls(
            seen=frozenset(seen),
            last_tag=last_tag if isinstance(last_tag, str) else None,
            last_digest=last_digest if isinstance(last_digest, str) else None,
        )

    def seeing(self, tag: str, digest: str | None = None) -> WatchState:
        """The state after firing for ``tag``."""
        return WatchState(seen=self.seen | {tag}, last_tag=tag, last_digest=digest)

    def forgetting_all_but(self, present: Iterable[str]) -> WatchState:
        """Drop tags that are no longer in the registry."""
        return WatchState(seen=self.seen & set(present), last_tag=self.last_tag, last_digest=self.last_digest)


def new_matching_tags(
    state: WatchState, current: Iterable[str], pattern: re.Pattern[str] | None, ignore: Iterable[str]
) -> list[str]:
    """Tags in ``current`` that match, are not ignored and were not seen, in ``current`` order."""
    return [tag for tag in filter_tags(current, pattern, ignore=ignore) if tag not in state.seen]


def state_key(
    registry_conn_id: str, repository: str, tag_pattern: str | None, ignore_tags: Iterable[str]
) -> str:
    """The asset-state-store key of one watcher.

    It includes the filter, so two watchers of one asset never share a seen-set, and changing a
    watcher's filter takes a fresh baseline instead of starting runs for every old tag that now matches.
    """
    spec = json.dumps([registry_conn_id, repository, tag_pattern or "", sorted(set(ignore_tags))])
    return f"new_image_tag:{repository}:{hashlib.sha256(spec.encode()).hexdigest()[:16]}"
