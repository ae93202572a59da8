"""Choosing among image tags: filter by regex, order by semantic version or by push time.

Used by the new-tag trigger and the tag sensor. Ordering decides which tag is "newest" and the order in
which several tags that appeared between two polls start their runs, so it must be total and
deterministic: ties and tags that are not versions get an explicit, documented place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

TagOrder = Literal["semver", "push_time"]
TAG_ORDERS: tuple[TagOrder, ...] = ("semver", "push_time")
DEFAULT_IGNORED_TAGS: tuple[str, ...] = ("latest",)

_SEMVER_RE = re.compile(
    r"^[vV]?(?P<major>0|[1-9]\d*)(?:\.(?P<minor>0|[1-9]\d*))?(?:\.(?P<patch>0|[1-9]\d*))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


@dataclass(frozen=True)
class SemVer:
    """A semantic version read from a tag. ``v1``, ``1.2`` and ``v1.2.3-rc.1+build.5`` are all accepted;
    missing minor/patch count as 0, as registries are full of ``1.2`` tags."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: str = ""

    def precedence(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        """SemVer 2.0 precedence as a tuple: build metadata is ignored, a release sorts after its
        pre-releases, numeric pre-release identifiers sort numerically and before alphanumeric ones."""
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, SemVer):
            return NotImplemented
        return self.precedence() < other.precedence()


def parse_semver(tag: str) -> SemVer | None:
    """The version a tag spells, or ``None`` for tags such as ``latest`` or ``sha-1a2b3c``."""
    match = _SEMVER_RE.match(tag)
    if match is None:
        return None
    pre = match.group("pre")
    return SemVer(
        major=int(match.group("major")),
        minor=int(match.group("minor") or 0),
        patch=int(match.group("patch") or 0),
        prerelease=tuple(pre.split(".")) if pre else (),
        build=match.group("build") or "",
    )


def compile_tag_pattern(pattern: str | None, *, field: str = "tag_pattern") -> re.Pattern[str] | None:
    """Compile a tag filter; the whole tag must match. Raise ``ValueError`` naming ``field`` if invalid."""
    if pattern is None or pattern == "":
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{field} {pattern!r} is not a valid regular expression: {exc}") from None


def filter_tags(
    tags: Iterable[str],
    pattern: str | re.Pattern[str] | None = None,
    *,
    ignore: Iterable[str] = DEFAULT_IGNORED_TAGS,
) -> list[str]:
    """Tags that fully match ``pattern`` and are not in ``ignore``, without duplicates, in input order."""
    compiled = compile_tag_pattern(pattern) if isinstance(pattern, str) else pattern
    ignored = set(ignore)
    seen: set[str] = set()
    result = []
    for tag in tags:
        if tag in ignored or tag in seen:
            continue
        if compiled is not None and compiled.fullmatch(tag) is None:
            continue
        seen.add(tag)
        result.append(tag)
    return result


def semver_sort_key(tag: str) -> tuple[int, tuple[object, ...], str]:
    """Sort key: tags that are not versions first (by name), then versions ascending, ties by name.

    Placing non-versions first means "newest" is always a real version when one exists.
    """
    version = parse_semver(tag)
    if version is None:
        return (0, (), tag)
    return (1, version.precedence(), tag)


def sort_tags_semver(tags: Iterable[str]) -> list[str]:
    """Oldest to newest by semantic version (see ``semver_sort_key``)."""
    return sorted(tags, key=semver_sort_key)


def sort_tags_push_time(tags: Iterable[str], created: Mapping[str, datetime | None]) -> list[str]:
    """Oldest to newest by image creation time; tags without a known time count as oldest, by name.

    The Registry API v2 has no push time, so the image config's ``created`` stands in for it. Undated
    tags go first so that a dated tag wins the "newest" choice; a watcher still fires for every new tag.
    """
    tags = list(tags)
    undated = sorted(t for t in tags if created.get(t) is None)
    dated = sorted((t for t in tags if created.get(t) is not None), key=lambda t: (created[t], t))
    return undated + dated


def sort_tags(
    tags: Iterable[str], order_by: TagOrder, created: Mapping[str, datetime | None] | None = None
) -> list[str]:
    """Oldest to newest by ``order_by``; ``created`` is required for ``push_time``."""
    if order_by == "semver":
        return sort_tags_semver(tags)
    if order_by == "push_time":
        if created is None:
            raise ValueError("order_by='push_time' needs the creation time of each tag")
        return sort_tags_push_time(tags, created)
    raise ValueError(f"order_by {order_by!r} is not one of {', '.join(TAG_ORDERS)}")


def validate_order(order_by: str) -> TagOrder:
    """Return ``order_by`` if known, else raise ``ValueError`` listing the valid values."""
    if order_by not in TAG_ORDERS:
        raise ValueError(f"order_by {order_by!r} is not one of: {', '.join(TAG_ORDERS)}")
    return order_by


@dataclass(frozen=True)
class TagInfo:
    """What a registry says about one tag: the manifest digest it points at and the image's ``created``.

    ``digest`` is the digest of the manifest the tag names (for multi-platform images, the index), which
    is what a deployment pins. ``created`` is ``None`` when the image config has no time.
    """

    repository: str
    tag: str
    digest: str
    media_type: str
    created: datetime | None = None
