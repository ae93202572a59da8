"""Label and field selectors: every operator, parse errors, and LabelSelector specs."""

from __future__ import annotations

import pytest

from airflow_delivery.sandbox.errors import BadRequest
from airflow_delivery.sandbox.selectors import (
    object_matcher,
    parse_field_selector,
    parse_label_selector,
    selector_from_spec,
    selector_to_string,
)

LABELS = {"app": "web", "tier": "front", "version": "v2"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app=api", False),
        ("version in (v1,v2)", True),
        ("version notin (v1, v2)", False),
        ("version in (v1)", False),
        ("tier", True),
        ("!tier", False),
        ("!missing", True),
        ("app=web,tier=front,version in (v2)", True),
        ("app=web,missing", False),
        ("", True),
    ],
)
def test_label_selector_operators(selector: str, expected: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is expected


def test_label_selector_rejects_invalid_keys_quoting_the_selector() -> None:
    with pytest.raises(BadRequest, match="invalid label key 'bad key'"):
        parse_label_selector("bad key=1")


def test_field_selectors_on_nested_paths() -> None:
    pod = {"metadata": {"name": "p1", "namespace": "ns"}, "status": {"phase": "Running"}}
    assert parse_field_selector("metadata.name=p1,status.phase=Running").matches(pod)
    assert not parse_field_selector("status.phase!=Running").matches(pod)
    assert parse_field_selector("spec.nodeName=").matches(pod), "a missing field compares as empty"
    with pytest.raises(BadRequest, match="expected path=value"):
        parse_field_selector("metadata.name")


def test_selector_from_spec_supports_match_expressions() -> None:
    spec = {"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "version", "operator": "In", "values": ["v2"]},
                                 {"key": "canary", "operator": "DoesNotExist"}]}
    assert selector_from_spec(spec).matches(LABELS)
    assert not selector_from_spec(spec).matches({**LABELS, "canary": "true"})
    assert selector_to_string(spec) == "app=web,version in (v2),!canary"
    with pytest.raises(BadRequest, match="operator 'Near'"):
        selector_from_spec({"matchExpressions": [{"key": "a", "operator": "Near"}]})


def test_an_empty_selector_spec_selects_nothing() -> None:
    """Controllers must never adopt every pod because a selector is missing."""
    assert not selector_from_spec({}).matches(LABELS)


def test_object_matcher_combines_both() -> None:
    obj = {"metadata": {"name": "a", "labels": {"app": "web"}}}
    assert object_matcher("app=web", "metadata.name=a")(obj)
    assert not object_matcher("app=web", "metadata.name=b")(obj)
