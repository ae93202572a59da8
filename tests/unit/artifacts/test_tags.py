"""Tag choice: semantic-version parsing and precedence, regex filters, push-time ordering."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_delivery.artifacts.tags import (
    SemVer,
    compile_tag_pattern,
    filter_tags,
    parse_semver,
    sort_tags,
    sort_tags_push_time,
    sort_tags_semver,
    validate_order,
)


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("1.2.3", SemVer(1, 2, 3)),
        ("v1.2.3", SemVer(1, 2, 3)),
        ("1.2", SemVer(1, 2, 0)),
        ("v7", SemVer(7, 0, 0)),
        ("1.0.0-rc.1", SemVer(1, 0, 0, ("rc", "1"))),
        ("1.0.0+build.7", SemVer(1, 0, 0, (), "build.7")),
    ],
)
def test_parse_semver(tag: str, expected: SemVer) -> None:
    assert parse_semver(tag) == expected


@pytest.mark.parametrize("tag", ["latest", "sha-1a2b3c", "01.2.3", "1.2.3.4", "main", "1.2.3-"])
def test_non_versions(tag: str) -> None:
    assert parse_semver(tag) is None


def test_semver_precedence_follows_the_spec() -> None:
    # SemVer 2.0 §11 example chain.
    chain = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.10.0",
        "2.0.0",
    ]
    assert sort_tags_semver(reversed(chain)) == chain
    assert SemVer(1, 0, 0, ("rc",)) < SemVer(1, 0, 0)


def test_non_versions_sort_first_and_ties_break_by_name() -> None:
    tags = ["v1.10.0", "zeta", "1.2", "v1.2.0", "alpha", "v1.9.0", "1.2.0+b2"]
    assert sort_tags_semver(tags) == ["alpha", "zeta", "1.2", "1.2.0+b2", "v1.2.0", "v1.9.0", "v1.10.0"]


def test_filter_tags_full_match_ignores_latest_and_duplicates() -> None:
    tags = ["v1.0.0", "latest", "v1.0.0", "v1.0.0-rc.1", "dev-1", "xv1.0.0"]
    assert filter_tags(tags, r"v\d+\.\d+\.\d+") == ["v1.0.0"]
    assert filter_tags(tags) == ["v1.0.0", "v1.0.0-rc.1", "dev-1", "xv1.0.0"]
    assert filter_tags(tags, None, ignore=()) == ["v1.0.0", "latest", "v1.0.0-rc.1", "dev-1", "xv1.0.0"]


def test_bad_pattern_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"tag_pattern 'v\(' is not a valid regular expression"):
        compile_tag_pattern("v(")
    assert compile_tag_pattern("") is None


def test_push_time_order_puts_undated_first() -> None:
    created = {
        "b": datetime(2024, 1, 2, tzinfo=UTC),
        "a": datetime(2024, 1, 3, tzinfo=UTC),
        "c": None,
        "d": datetime(2024, 1, 2, tzinfo=UTC),
    }
    assert sort_tags_push_time(["a", "b", "c", "d", "e"], created) == ["c", "e", "b", "d", "a"]


def test_sort_tags_dispatch_and_errors() -> None:
    assert sort_tags(["2.0", "1.0"], "semver") == ["1.0", "2.0"]
    with pytest.raises(ValueError, match="needs the creation time"):
        sort_tags(["a"], "push_time")
    with pytest.raises(ValueError, match="not one of"):
        sort_tags(["a"], "alphabetical")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="order_by 'newest' is not one of: semver, push_time"):
        validate_order("newest")
