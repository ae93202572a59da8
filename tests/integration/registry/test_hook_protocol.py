"""ContainerRegistryHook against a scripted registry over real HTTP: what docker-registry cannot show.

Covered: Docker token auth negotiated from ``WWW-Authenticate`` (scope, service, credentials, token
cache, refused credentials), ``Link`` pagination of tag lists (and a pagination loop), 429 with
``Retry-After``, 5xx retries and their bound, an over-long ``Retry-After``, an unreachable registry,
invalid JSON, and the async variants of the same paths.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from airflow_delivery.artifacts.errors import (
    RegistryNotFoundError,
    RegistryProtocolError,
    RegistryRateLimitedError,
    RegistryServerError,
    RegistryUnauthorizedError,
    RegistryUnavailableError,
)
from airflow_delivery.artifacts.protocol import RetryPolicy
from airflow_delivery.hooks.registry import ContainerRegistryHook
from tests.integration.registry.scripted_registry import (
    SERVICE,
    ScriptedFailure,
    ScriptedRegistry,
    run_scripted_registry,
)
from tests.support import free_port

pytestmark = pytest.mark.integration

CONN_ID = "scripted_registry"
USER, PASSWORD = "robot", "token-s3cret-value"
TAGS = ["v1.0.0", "v1.1.0", "v1.2.0", "v2.0.0", "latest"]
FAST_RETRIES = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=30)


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedRegistry]:
    with run_scripted_registry(
        ScriptedRegistry(tags={"team/app": list(TAGS)}, users={USER: PASSWORD})
    ) as reg:
        connection = {"conn_type": "container_registry", "host": reg.url, "login": USER, "password": PASSWORD}
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(connection))
        yield reg


def _hook(**kwargs: object) -> ContainerRegistryHook:
    return ContainerRegistryHook(CONN_ID, retry_policy=FAST_RETRIES, **kwargs)  # type: ignore[arg-type]


def test_token_auth_negotiated_from_the_challenge_and_cached(scripted: ScriptedRegistry) -> None:
    hook = _hook()
    assert hook.list_tags("team/app") == sorted(TAGS)
    (token_request,) = scripted.token_requests
    assert token_request.query["service"] == [SERVICE]
    assert token_request.query["scope"] == ["repository:team/app:pull"]
    assert token_request.authorization and token_request.authorization.startswith("Basic ")
    first, retried = scripted.registry_requests()
    assert first.authorization is None and retried.authorization == "Bearer tok-1"

    # Same scope again: the cached token goes out with the first request, no new token, no 401.
    assert hook.get_digest("team/app", "v1.0.0") == scripted.digest("team/app", "v1.0.0")
    assert len(scripted.token_requests) == 1
    assert scripted.registry_requests()[-1].authorization == "Bearer tok-1"
    assert len(scripted.registry_requests()) == 3


def test_test_connection_obtains_a_token_without_scope(scripted: ScriptedRegistry) -> None:
    ok, message = _hook().test_connection()
    assert ok, message
    assert scripted.url in message and "registry/2.0" in message
    assert "scope" not in scripted.token_requests[0].query


def test_refused_credentials_name_the_connection_and_hide_the_password(
    scripted: ScriptedRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = {
        "conn_type": "container_registry",
        "host": scripted.url,
        "login": USER,
        "password": "wrong-pass",
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(connection))
    with pytest.raises(
        RegistryUnauthorizedError, match=f"refused the connection's credentials.*'{CONN_ID}'"
    ) as excinfo:
        _hook().list_tags("team/app")
    assert "wrong-pass" not in str(excinfo.value)
    assert len(scripted.token_requests) == 1  # an auth failure is not retried
    ok, message = _hook().test_connection()
    assert not ok and CONN_ID in message and "wrong-pass" not in message


def test_anonymous_token_when_the_connection_has_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    with run_scripted_registry(ScriptedRegistry(tags={"team/app": ["v1"]})) as reg:
        monkeypatch.setenv(
            "AIRFLOW_CONN_ANON_REG", json.dumps({"conn_type": "container_registry", "host": reg.url})
        )
        assert ContainerRegistryHook("anon_reg").list_tags("team/app") == ["v1"]
        assert reg.token_requests[0].authorization is None


def test_tag_list_follows_link_pagination(scripted: ScriptedRegistry) -> None:
    assert _hook(page_size=2).list_tags("team/app") == sorted(TAGS)
    pages = [r for r in scripted.registry_requests() if r.authorization]
    assert [r.query.get("last") for r in pages] == [None, ["v1.0.0"], ["v1.2.0"]]
    assert all(r.query["n"] == ["2"] for r in pages)


def test_pagination_loop_is_a_protocol_error(scripted: ScriptedRegistry) -> None:
    scripted.link_override = '</v2/team/app/tags/list?n=2&last=v1>; rel="next"'
    with pytest.raises(RegistryProtocolError, match="pagination loops back"):
        _hook().list_tags("team/app")


def test_tag_list_that_is_not_json_is_a_protocol_error(scripted: ScriptedRegistry) -> None:
    scripted.tags_body_override = b"<html>proxy error</html>"
    with pytest.raises(RegistryProtocolError, match="not a JSON object"):
        _hook().list_tags("team/app")
    scripted.tags_body_override = b'{"tags": [1, 2]}'
    with pytest.raises(RegistryProtocolError, match="not a list of strings"):
        _hook().list_tags("team/app")


def test_429_waits_for_retry_after_then_succeeds(scripted: ScriptedRegistry) -> None:
    scripted.failures.extend([ScriptedFailure(429, {"Retry-After": "1"})] * 2)
    assert _hook().list_tags("team/app") == sorted(TAGS)
    first, second, third = scripted.registry_requests()[:3]
    assert second.at - first.at >= 0.95 and third.at - second.at >= 0.95


def test_5xx_is_retried_with_backoff_then_succeeds(scripted: ScriptedRegistry) -> None:
    scripted.failures.extend([ScriptedFailure(503), ScriptedFailure(502)])
    assert _hook().get_digest("team/app", "v2.0.0") == scripted.digest("team/app", "v2.0.0")


def test_persistent_5xx_gives_up_after_the_bounded_attempts(scripted: ScriptedRegistry) -> None:
    scripted.failures.extend([ScriptedFailure(500)] * 10)
    with pytest.raises(RegistryServerError, match="gave up after 3 attempts") as excinfo:
        _hook().list_tags("team/app")
    assert excinfo.value.transient
    assert len(scripted.registry_requests()) == 3


def test_retry_after_longer_than_the_hook_waits_fails_at_once(scripted: ScriptedRegistry) -> None:
    scripted.failures.append(ScriptedFailure(429, {"Retry-After": "3600"}))
    with pytest.raises(RegistryRateLimitedError, match="asked to wait 3600s") as excinfo:
        _hook().list_tags("team/app")
    assert excinfo.value.retry_after == 3600
    assert len(scripted.registry_requests()) == 1


def test_unknown_tag_and_repository(scripted: ScriptedRegistry) -> None:
    with pytest.raises(RegistryNotFoundError, match="tag 'v9' not found in repository 'team/app'"):
        _hook().get_digest("team/app", "v9")
    with pytest.raises(RegistryNotFoundError, match="repository 'team/none' not found"):
        _hook().list_tags("team/none")


def test_unreachable_registry_is_retried_then_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    monkeypatch.setenv("AIRFLOW_CONN_DOWN_REG", json.dumps({"conn_type": "container_registry", "host": url}))
    hook = ContainerRegistryHook("down_reg", retry_policy=FAST_RETRIES)
    with pytest.raises(
        RegistryUnavailableError, match=f"{url} \\(connection 'down_reg'\\) could not be reached"
    ):
        hook.list_tags("team/app")
    ok, message = hook.test_connection()
    assert not ok and "could not be reached" in message


def test_async_paths_share_auth_pagination_and_retries(scripted: ScriptedRegistry) -> None:
    scripted.failures.extend([ScriptedFailure(429, {"Retry-After": "0"}), ScriptedFailure(503)])

    async def scenario() -> tuple[list[str], str, tuple[bool, str]]:
        hook = _hook(page_size=3)
        tags = await hook.alist_tags("team/app")
        digest = await hook.aget_digest("team/app", "v1.1.0")
        return tags, digest, await hook.atest_connection()

    tags, digest, (ok, _) = asyncio.run(scenario())
    assert tags == sorted(TAGS)
    assert digest == scripted.digest("team/app", "v1.1.0")
    assert ok
    assert len(scripted.token_requests) == 2  # one for the repository scope, one for /v2/


def test_async_unauthorized(scripted: ScriptedRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps(
            {"conn_type": "container_registry", "host": scripted.url, "login": USER, "password": "nope-nope"}
        ),
    )
    with pytest.raises(RegistryUnauthorizedError, match=CONN_ID):
        asyncio.run(_hook().alist_tags("team/app"))
