"""The registry auth flow, driven step by step: which requests it sends for each challenge.

The flow is sans-I/O (it yields requests and receives responses), so these tests feed it real
``httpx`` responses without any server; the end-to-end behaviour is covered in
``tests/integration/registry``.
"""

from __future__ import annotations

import base64
from collections.abc import Generator

import httpx
import pytest

from airflow_delivery.artifacts.auth import RegistryAuth
from airflow_delivery.artifacts.errors import (
    RegistryProtocolError,
    RegistryRateLimitedError,
    RegistryServerError,
    RegistryUnauthorizedError,
)

BEARER = 'Bearer realm="https://auth.example/token",service="reg.example"'
TAGS_URL = "https://reg.example/v2/team/app/tags/list"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _start(auth: RegistryAuth, url: str = TAGS_URL, method: str = "GET") -> tuple[Generator, httpx.Request]:
    flow = auth.auth_flow(httpx.Request(method, url))
    return flow, next(flow)


def _respond(status: int, *, headers: dict[str, str] | None = None, json: object = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, json=json)


def test_anonymous_success_sends_no_authorization() -> None:
    auth = RegistryAuth(username=None, password=None, conn_id="c")
    flow, request = _start(auth)
    assert "Authorization" not in request.headers
    with pytest.raises(StopIteration):
        flow.send(_respond(200))


def test_bearer_challenge_fetches_a_token_with_scope_and_credentials_then_retries() -> None:
    clock = Clock()
    auth = RegistryAuth(username="bot", password="pw", conn_id="c", clock=clock)
    flow, _ = _start(auth)
    token_request = flow.send(_respond(401, headers={"WWW-Authenticate": BEARER}))
    assert token_request.url.host == "auth.example"
    assert token_request.url.params.get_list("scope") == ["repository:team/app:pull"]
    assert token_request.url.params["service"] == "reg.example"
    assert token_request.headers["Authorization"] == "Basic " + base64.b64encode(b"bot:pw").decode()
    retried = flow.send(_respond(200, json={"token": "tok-1", "expires_in": 60}))
    assert retried.headers["Authorization"] == "Bearer tok-1"
    with pytest.raises(StopIteration):
        flow.send(_respond(200))
    assert auth.token_requests == 1

    # The cached token is sent up front for the same scope while it is valid...
    _, again = _start(auth)
    assert again.headers["Authorization"] == "Bearer tok-1"
    # ...not for another scope, and not once it is about to expire.
    _, other = _start(auth, "https://reg.example/v2/team/other/tags/list")
    assert "Authorization" not in other.headers
    clock.now += 56
    _, late = _start(auth)
    assert "Authorization" not in late.headers


def test_challenge_scope_wins_and_anonymous_token_requests_carry_no_credentials() -> None:
    auth = RegistryAuth(username=None, password=None, conn_id="c")
    flow, _ = _start(auth)
    challenge = BEARER + ',scope="repository:team/app:pull,push"'
    token_request = flow.send(_respond(401, headers={"WWW-Authenticate": challenge}))
    assert token_request.url.params.get_list("scope") == ["repository:team/app:pull,push"]
    assert "Authorization" not in token_request.headers


def test_token_endpoint_failures_map_to_registry_errors() -> None:
    cases = [
        (_respond(401), RegistryUnauthorizedError, "refused the connection's credentials"),
        (_respond(429, headers={"Retry-After": "3"}), RegistryRateLimitedError, "rate limiting"),
        (_respond(503), RegistryServerError, "HTTP 503"),
        (_respond(200, json={"nothing": 1}), RegistryProtocolError, "neither 'token'"),
    ]
    for response, error, message in cases:
        auth = RegistryAuth(username="bot", password="pw", conn_id="my_conn")
        flow, _ = _start(auth)
        flow.send(_respond(401, headers={"WWW-Authenticate": BEARER}))
        with pytest.raises(error, match=message) as excinfo:
            flow.send(response)
        assert "my_conn" in str(excinfo.value)
        assert "pw" not in str(excinfo.value)
    assert excinfo.value.transient is False


def test_basic_challenge_retries_once_with_credentials_and_remembers() -> None:
    auth = RegistryAuth(username="bot", password="pw", conn_id="c")
    flow, _ = _start(auth)
    retried = flow.send(_respond(401, headers={"WWW-Authenticate": 'Basic realm="r"'}))
    assert retried.headers["Authorization"].startswith("Basic ")
    with pytest.raises(StopIteration):
        flow.send(_respond(200))
    flow, request = _start(auth)
    assert request.headers["Authorization"].startswith("Basic ")
    # Refused although sent: no second attempt, the 401 stands.
    with pytest.raises(StopIteration):
        flow.send(_respond(401, headers={"WWW-Authenticate": 'Basic realm="r"'}))


def test_basic_challenge_without_credentials_leaves_the_401() -> None:
    auth = RegistryAuth(username=None, password=None, conn_id="c")
    flow, _ = _start(auth)
    with pytest.raises(StopIteration):
        flow.send(_respond(401, headers={"WWW-Authenticate": 'Basic realm="r"'}))
