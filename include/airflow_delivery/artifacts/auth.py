"""Registry authentication as an ``httpx.Auth`` flow: anonymous, basic, and Docker token auth.

Docker Hub and most cloud registries answer an unauthenticated request with
``401`` + ``WWW-Authenticate: Bearer realm="...",service="...",scope="..."``; the client then asks the
realm for a token (with basic credentials, or anonymously) and repeats the request with
``Authorization: Bearer``. ``httpx`` drives the same generator for sync and async clients, so one
implementation serves workers and the triggerer. The flow itself does no I/O: it only yields requests.

Tokens are cached per scope until shortly before they expire, so a trigger polling every minute asks
the token endpoint roughly once per token lifetime, not twice per poll.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Generator

import httpx

from airflow_delivery.artifacts.errors import (
    RegistryError,
    RegistryProtocolError,
    RegistryRateLimitedError,
    RegistryServerError,
    RegistryUnauthorizedError,
)
from airflow_delivery.artifacts.protocol import (
    BearerToken,
    Challenge,
    parse_retry_after,
    parse_token_response,
    parse_www_authenticate,
    scope_for_request,
)


class RegistryAuth(httpx.Auth):
    """Answer registry challenges with the connection's credentials (or none, for anonymous pulls).

    :param username: login, or ``None`` for anonymous access.
    :param password: password or access token.
    :param conn_id: named in error messages (the credentials never are).
    :param clock: monotonic seconds; injectable so token expiry is testable without waiting.
    """

    requires_response_body = True  # the token endpoint's JSON has to be read inside the flow

    def __init__(
        self,
        *,
        username: str | None,
        password: str | None,
        conn_id: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._username = username or None
        self._password = password or ""
        self._conn_id = conn_id
        self._clock = clock
        self._tokens: dict[str, BearerToken] = {}
        self._basic = False  # set once the registry has asked for basic auth
        self.token_requests = 0  # how many tokens were fetched (observable in tests and logs)

    @property
    def has_credentials(self) -> bool:
        return self._username is not None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        key = scope_for_request(request.method, request.url.path) or ""
        self._authorize(request, key)
        response = yield request
        if response.status_code != 401:
            return
        challenges = parse_www_authenticate(response.headers.get_list("www-authenticate"))
        bearer = _first(challenges, "bearer")
        if bearer is not None and bearer.realm:
            scope = bearer.params.get("scope") or key or None
            token_response = yield self._token_request(bearer, scope)
            token = self._read_token(token_response, bearer)
            self._tokens[key] = token
            request.headers["Authorization"] = f"Bearer {token.value}"
            yield request
        elif _first(challenges, "basic") is not None and self.has_credentials:
            if self._basic and "Authorization" in request.headers:
                return  # the credentials were already sent and refused
            self._basic = True
            request.headers["Authorization"] = self._basic_header()
            yield request
        # Otherwise the 401 stands; the hook turns it into RegistryUnauthorizedError.

    def _authorize(self, request: httpx.Request, key: str) -> None:
        if self._basic:
            request.headers["Authorization"] = self._basic_header()
            return
        token = self._tokens.get(key)
        if token is not None and token.valid(self._clock()):
            request.headers["Authorization"] = f"Bearer {token.value}"

    def _basic_header(self) -> str:
        raw = f"{self._username or ''}:{self._password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def _token_request(self, challenge: Challenge, scope: str | None) -> httpx.Request:
        params: list[tuple[str, str | int | float | bool | None]] = []
        if challenge.params.get("service"):
            params.append(("service", challenge.params["service"]))
        for item in (scope or "").split():
            params.append(("scope", item))
        headers = {"Authorization": self._basic_header()} if self.has_credentials else {}
        self.token_requests += 1
        return httpx.Request("GET", challenge.realm or "", params=params, headers=headers)

    def _read_token(self, response: httpx.Response, challenge: Challenge) -> BearerToken:
        realm = challenge.realm
        status = response.status_code
        if status == 200:
            try:
                return parse_token_response(response.content, now=self._clock())
            except ValueError as exc:
                raise RegistryProtocolError(
                    f"token endpoint {realm} (connection '{self._conn_id}'): {exc}", conn_id=self._conn_id
                ) from None
        if status in (401, 403):
            who = "the connection's credentials" if self.has_credentials else "anonymous access"
            raise RegistryUnauthorizedError(
                f"token endpoint {realm} refused {who} (HTTP {status}) for connection '{self._conn_id}': "
                "check the username and password/access token"
                + ("" if self.has_credentials else ", or add credentials to the connection"),
                conn_id=self._conn_id,
                http_status=status,
            )
        if status == 429:
            raise RegistryRateLimitedError(
                f"token endpoint {realm} is rate limiting connection '{self._conn_id}' (HTTP 429)",
                conn_id=self._conn_id,
                http_status=status,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        if status >= 500:
            raise RegistryServerError(
                f"token endpoint {realm} failed with HTTP {status} (connection '{self._conn_id}')",
                conn_id=self._conn_id,
                http_status=status,
            )
        raise RegistryError(
            f"token endpoint {realm} answered HTTP {status} for connection '{self._conn_id}'",
            conn_id=self._conn_id,
            http_status=status,
        )


def _first(challenges: list[Challenge], scheme: str) -> Challenge | None:
    return next((c for c in challenges if c.scheme == scheme), None)
