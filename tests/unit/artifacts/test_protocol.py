"""Registry protocol helpers against the header strings real registries send."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_delivery.artifacts.protocol import (
    Challenge,
    RetryPolicy,
    parse_error_body,
    parse_link_next,
    parse_retry_after,
    parse_token_response,
    parse_www_authenticate,
    scope_for_request,
)


def test_docker_hub_challenge_with_comma_inside_the_scope() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/nginx:pull,push"'
    )
    assert parse_www_authenticate(header) == [
        Challenge(
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/nginx:pull,push",
            },
        )
    ]


def test_several_challenges_and_header_values() -> None:
    challenges = parse_www_authenticate(
        ['Basic realm="Registry Realm"', "Bearer realm=https://t/x, error=invalid_token"]
    )
    assert [c.scheme for c in challenges] == ["basic", "bearer"]
    assert challenges[0].realm == "Registry Realm"
    assert challenges[1].params == {"realm": "https://t/x", "error": "invalid_token"}
    two_in_one = parse_www_authenticate('Basic realm="a", Bearer realm="b",service="s"')
    assert [(c.scheme, c.realm) for c in two_in_one] == [("basic", "a"), ("bearer", "b")]


def test_escaped_quotes_and_garbage() -> None:
    assert parse_www_authenticate(r'Basic realm="say \"hi\""')[0].realm == 'say "hi"'
    assert parse_www_authenticate("") == []
    assert parse_www_authenticate("=broken") == []


def test_link_next() -> None:
    assert parse_link_next('</v2/_catalog?last=b&n=2>; rel="next"') == "/v2/_catalog?last=b&n=2"
    assert (
        parse_link_next("<https://r/v2/a/tags/list?n=1&last=x>; rel=next")
        == "https://r/v2/a/tags/list?n=1&last=x"
    )
    assert parse_link_next('</p1>; rel="prev", </p3>; rel="next"') == "/p3"
    assert parse_link_next('</p1>; rel="prev"') is None
    assert parse_link_next(None) is None
    assert parse_link_next(['</a>; rel="first"', '</b>; title="x"; rel="next last"']) == "/b"


def test_retry_after_seconds_and_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/v2/", None),
        ("GET", "/v2/_catalog", "registry:catalog:*"),
        ("GET", "/v2/team/app/tags/list", "repository:team/app:pull"),
        ("HEAD", "/v2/library/nginx/manifests/1.25", "repository:library/nginx:pull"),
        ("PUT", "/v2/team/app/manifests/v1", "repository:team/app:pull,push"),
        ("POST", "/v2/team/app/blobs/uploads/", "repository:team/app:pull,push"),
        ("PUT", "/v2/team/app/blobs/uploads/0c1f?_state=x", "repository:team/app:pull,push"),
        ("DELETE", "/v2/team/app/manifests/sha256:aa", "repository:team/app:delete"),
        ("GET", "/prefix/v2/org/app/blobs/sha256:aa", "repository:org/app:pull"),
    ],
)
def test_scope_for_request(method: str, path: str, scope: str | None) -> None:
    assert scope_for_request(method, path) == scope


def test_token_response() -> None:
    token = parse_token_response(b'{"token":"t1","expires_in":300}', now=100.0)
    assert token.value == "t1" and token.expires_at == 400.0
    assert token.valid(394.0) and not token.valid(396.0)
    assert parse_token_response(b'{"access_token":"t2"}', now=0).expires_at == 60.0
    for body, message in [(b"nope", "non-JSON"), (b"[]", "not an object"), (b"{}", "neither")]:
        with pytest.raises(ValueError, match=message):
            parse_token_response(body, now=0)


def test_error_body() -> None:
    body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}'
    assert [(e.code, e.message) for e in parse_error_body(body)] == [("MANIFEST_UNKNOWN", "manifest unknown")]
    assert parse_error_body(b"<html>") == []
    assert parse_error_body(b'{"errors": "x"}') == []


def test_retry_policy_is_bounded_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=3.0, max_retry_after=10.0)
    half = lambda: 0.0
    assert [policy.next_delay(n, rand=half) for n in (1, 2, 3)] == [0.5, 1.0, 1.5]
    assert policy.next_delay(3, rand=lambda: 1.0) == 3.0  # capped at max_delay
    assert policy.next_delay(4) is None
    assert policy.next_delay(1, retry_after=8.0) == 8.0
    assert policy.next_delay(1, retry_after=11.0) is None
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(max_attempts=0)
