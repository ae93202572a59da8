"""Poll an external system's status URL until its job succeeds, fails or is canceled (async httpx).

The call that starts the job is made once, by the operator on the worker; this trigger only reads
the status, so a triggerer restart re-polls but never re-sends the request. The deadline is absolute
and serialised, so a restart does not extend it either.

The helpers above the trigger (allow-list, JSON paths, connection headers, backoff, status
classification) are shared with :mod:`airflow_delivery.operators.webhook`, so the initial call and
the polling follow the same rules.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal, TypedDict

import httpx
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_delivery.utils.deferral import final_event
from airflow_delivery.utils.tls import ssl_verify

CONFIG_SECTION = "delivery"
ALLOWED_PREFIXES_OPTION = "webhook_allowed_url_prefixes"
DEFAULT_RETRY_STATUS_CODES = (429, 502, 503, 504)
MAX_BODY_CHARS = 65_536
# Spinnaker's webhook defaults: connect 15 s, read 20 s.
CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 20.0

Outcome = Literal["success", "terminal", "canceled", "timeout", "error"]
StatusClass = Literal["success", "terminal", "canceled", "running"]


class WebhookError(Exception):
    """A webhook call or status poll that cannot succeed; the message says what to change."""


class WebhookUrlRefused(WebhookError):
    """A URL outside ``[delivery] webhook_allowed_url_prefixes``."""


# -- allow-list ----------------------------------------------------------------------------------


def allowed_url_prefixes() -> list[str]:
    """``[delivery] webhook_allowed_url_prefixes``: comma or newline separated; empty allows every URL."""
    from airflow.configuration import conf

    raw = conf.get(CONFIG_SECTION, ALLOWED_PREFIXES_OPTION, fallback="") or ""
    return [p.strip() for p in raw.replace("\n", ",").split(",") if p.strip()]


def url_matches_prefix(url: str, prefix: str) -> bool:
    """Prefix match on a boundary: ``https://ci.example.com`` allows ``https://ci.example.com/x``
    but not ``https://ci.example.com.evil.test/`` nor ``https://ci.example.com@evil.test/``."""
    if not url.startswith(prefix):
        return False
    if len(url) == len(prefix) or prefix.endswith(("/", "?", "#", "=", "&")):
        return True
    return url[len(prefix)] in "/?#"


def check_url_allowed(url: str, prefixes: Sequence[str] | None = None) -> None:
    """Raise ``WebhookUrlRefused`` for a URL the allow-list does not cover, before any request."""
    if not url.startswith(("http://", "https://")):
        raise WebhookUrlRefused(f"webhook URL {url!r} must start with http:// or https://")
    prefixes = allowed_url_prefixes() if prefixes is None else list(prefixes)
    if prefixes and not any(url_matches_prefix(url, prefix) for prefix in prefixes):
        raise WebhookUrlRefused(
            f"webhook URL {url!r} is not allowed: [{CONFIG_SECTION}] {ALLOWED_PREFIXES_OPTION} allows only "
            f"{', '.join(prefixes)}; ask an Airflow admin to add its prefix"
        )


# -- JSON paths ----------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def compile_json_path(path: str) -> Any:
    """A compiled JSONPath (jsonpath-ng); ``ValueError`` naming the path when it does not parse."""
    from jsonpath_ng import parse
    from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError

    try:
        return parse(path)
    except (JsonPathParserError, JsonPathLexerError, Exception) as exc:  # noqa: BLE001 - ply raises plain Exception too
        raise ValueError(
            f"invalid JSON path {path!r}: {exc}; write e.g. '$.status' or '$.links.status'"
        ) from None


def json_path_value(document: Any, path: str) -> Any:
    """The first value ``path`` selects in ``document``; ``WebhookError`` when it selects nothing."""
    matches = compile_json_path(path).find(document)
    if not matches:
        shown = json.dumps(document)[:300] if not isinstance(document, str) else document[:300]
        raise WebhookError(f"JSON path {path!r} matches nothing in the response {shown}")
    return matches[0].value


# -- requests ------------------------------------------------------------------------------------


def connection_headers(conn: Any) -> tuple[dict[str, str], tuple[str, str] | None]:
    """Headers and basic auth from an Airflow connection, the way the HTTP provider reads them.

    The connection's extra (a JSON object) is sent as headers; ``login``/``password`` become HTTP
    basic auth; a password without a login is sent as ``Authorization: Bearer <password>``. Secrets
    live in the connection (masked in logs by Airflow), never in the pipeline file.
    """
    extra = conn.extra_dejson if conn is not None else {}
    headers = {str(k): str(v) for k, v in (extra or {}).items() if isinstance(v, str | int | float)}
    auth: tuple[str, str] | None = None
    if conn is not None and conn.password:
        if conn.login:
            auth = (conn.login, conn.password)
        else:
            headers.setdefault("Authorization", f"Bearer {conn.password}")
    return headers, auth


def backoff_delay(attempt: int, *, first: float, maximum: float, retry_after: str | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1``: doubling from ``first``, capped, with jitter.

    A numeric ``Retry-After`` from the server replaces the computed delay (still capped), because
    the server knows when it will be ready.
    """
    if retry_after is not None:
        try:
            return min(max(float(retry_after), 0.0), maximum)
        except ValueError:
            pass  # an HTTP date: fall back to our own schedule
    delay = min(first * (2 ** max(attempt - 1, 0)), maximum)
    return delay * random.uniform(0.8, 1.0)


def response_body(response: httpx.Response) -> Any:
    """The body as JSON when it is JSON, else as (truncated) text: what the XCom and JSON paths see."""
    text = response.text
    try:
        return json.loads(text) if len(text) <= MAX_BODY_CHARS else text[:MAX_BODY_CHARS]
    except ValueError:
        return text[:MAX_BODY_CHARS]


def _normalise(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def classify_status(
    value: Any, *, success: Iterable[str], terminal: Iterable[str], canceled: Iterable[str]
) -> StatusClass:
    """Which list a status value is in; strings compare as written, other JSON values as JSON text."""
    text = _normalise(value)
    if text in set(success):
        return "success"
    if text in set(canceled):
        return "canceled"
    if text in set(terminal):
        return "terminal"
    return "running"


def http_timeout() -> httpx.Timeout:
    return httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)


# -- the trigger ---------------------------------------------------------------------------------


class WebhookStatusEvent(TypedDict, total=False):
    outcome: Outcome
    message: str
    status: str | None
    status_url: str
    polls: int
    webhook: dict[str, Any]
    response: Any


class WebhookStatusTrigger(BaseTrigger):
    """Poll ``status_url`` (GET) until the value at ``status_json_path`` is a success, terminal or
    canceled status, or until ``deadline``.

    Answers with a status code in ``retry_status_codes`` and connection errors are retried up to
    ``max_attempts`` times in a row (with backoff); any other 4xx/5xx ends the poll with an error.
    ``webhook`` is the result of the initial call; it is carried into the final event so the task's
    XCom holds both.
    """

    def __init__(
        self,
        *,
        status_url: str,
        status_json_path: str,
        success_statuses: Sequence[str],
        deadline: str,
        terminal_statuses: Sequence[str] = (),
        canceled_statuses: Sequence[str] = (),
        http_conn_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        poll_interval: float = 10.0,
        retry_status_codes: Sequence[int] = DEFAULT_RETRY_STATUS_CODES,
        max_attempts: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        webhook: Mapping[str, Any] | None = None,
        end_from_trigger: bool = False,
    ) -> None:
        super().__init__()
        if datetime.fromisoformat(deadline).tzinfo is None:
            raise ValueError(f"deadline {deadline!r} has no time zone; pass an aware ISO-8601 timestamp")
        self.status_url = status_url
        self.status_json_path = status_json_path
        self.success_statuses = list(success_statuses)
        self.terminal_statuses = list(terminal_statuses)
        self.canceled_statuses = list(canceled_statuses)
        self.deadline = deadline
        self.http_conn_id = http_conn_id
        self.headers = dict(headers or {})
        self.poll_interval = float(poll_interval)
        self.retry_status_codes = [int(c) for c in retry_status_codes]
        self.max_attempts = int(max_attempts)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.webhook = dict(webhook or {})
        self.end_from_trigger = end_from_trigger

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "status_url": self.status_url,
                "status_json_path": self.status_json_path,
                "success_statuses": self.success_statuses,
                "deadline": self.deadline,
                "terminal_statuses": self.terminal_statuses,
                "canceled_statuses": self.canceled_statuses,
                "http_conn_id": self.http_conn_id,
                "headers": self.headers,
                "poll_interval": self.poll_interval,
                "retry_status_codes": self.retry_status_codes,
                "max_attempts": self.max_attempts,
                "backoff": self.backoff,
                "max_backoff": self.max_backoff,
                "webhook": self.webhook,
                "end_from_trigger": self.end_from_trigger,
            },
        )

    def _remaining(self) -> float:
        return (datetime.fromisoformat(self.deadline) - datetime.now(UTC)).total_seconds()

    async def _request_settings(self) -> tuple[dict[str, str], tuple[str, str] | None]:
        headers: dict[str, str] = {"Accept": "application/json"}
        auth = None
        if self.http_conn_id:
            from airflow.sdk.bases.hook import BaseHook

            conn_headers, auth = connection_headers(await BaseHook.aget_connection(self.http_conn_id))
            headers.update(conn_headers)
        headers.update(self.headers)
        return headers, auth

    def _final(self, outcome: Outcome, **fields: Any) -> TriggerEvent:
        event: WebhookStatusEvent = {"outcome": outcome, "status_url": self.status_url, **fields}  # type: ignore[typeddict-item]
        result = {**self.webhook, **event}
        return final_event(
            end_from_trigger=self.end_from_trigger, succeeded=outcome == "success", result=result
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            async for event in self._poll():
                yield event
                return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.exception("Polling %s failed", self.status_url)
            yield TriggerEvent(
                {
                    **self.webhook,
                    "outcome": "error",
                    "status_url": self.status_url,
                    "message": f"{type(exc).__name__}: {exc}",
                }
            )

    async def _poll(self) -> AsyncIterator[TriggerEvent]:
        headers, auth = await self._request_settings()
        polls = 0
        failures = 0
        last_status: str | None = None
        async with httpx.AsyncClient(
            timeout=http_timeout(), follow_redirects=False, auth=auth, verify=ssl_verify(True)
        ) as client:
            while True:
                if self._remaining() <= 0:
                    yield self._final(
                        "timeout",
                        status=last_status,
                        polls=polls,
                        message=f"no final status by the deadline {self.deadline} (last status {last_status!r})",
                    )
                    return
                polls += 1
                retry_after = None
                try:
                    response = await client.get(self.status_url, headers=headers)
                except (
                    httpx.ConnectError,
                    httpx.ConnectTimeout,
                    httpx.ReadTimeout,
                    httpx.RemoteProtocolError,
                ) as exc:
                    failures += 1
                    problem = f"{type(exc).__name__}: {exc}"
                else:
                    if response.status_code < 400:
                        failures = 0
                        body = response_body(response)
                        value = json_path_value(body, self.status_json_path)
                        last_status = _normalise(value)
                        kind = classify_status(
                            value,
                            success=self.success_statuses,
                            terminal=self.terminal_statuses,
                            canceled=self.canceled_statuses,
                        )
                        self.log.info("Status of %s: %s (%s)", self.status_url, last_status, kind)
                        if kind != "running":
                            outcome: Outcome = "success" if kind == "success" else kind
                            yield self._final(
                                outcome,
                                status=last_status,
                                polls=polls,
                                response=body,
                                message=f"status {last_status!r} at {self.status_json_path}",
                            )
                            return
                        await asyncio.sleep(max(0.0, min(self.poll_interval, self._remaining())))
                        continue
                    if response.status_code not in self.retry_status_codes:
                        yield self._final(
                            "error",
                            status=last_status,
                            polls=polls,
                            response=response_body(response),
                            message=f"status URL answered HTTP {response.status_code}",
                        )
                        return
                    failures += 1
                    retry_after = response.headers.get("Retry-After")
                    problem = f"HTTP {response.status_code}"
                if failures >= self.max_attempts:
                    yield self._final(
                        "error",
                        status=last_status,
                        polls=polls,
                        message=f"status URL failed {failures} times in a row (last: {problem})",
                    )
                    return
                delay = backoff_delay(
                    failures, first=self.backoff, maximum=self.max_backoff, retry_after=retry_after
                )
                self.log.warning("Polling %s: %s; retrying in %.1fs", self.status_url, problem, delay)
                await asyncio.sleep(max(0.0, min(delay, self._remaining())))
