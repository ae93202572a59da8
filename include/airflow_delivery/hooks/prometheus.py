"""Prometheus HTTP API hook: range and instant queries with retries, timeouts and clear errors.

Canary analysis reads its samples from here, so this hook must distinguish three failures the canary
stage treats differently: Prometheus unreachable or overloaded (``PrometheusUnavailableError``, after
retries), a query Prometheus rejected (``PrometheusQueryError``, naming the query), and a wrong or
missing connection (``PrometheusConnectionNotFoundError`` / ``PrometheusConfigError``). Every message
names the connection id and never contains the password or bearer token.

The sync client serves operators on workers; the ``a*`` methods serve triggers in the triggerer and
read the connection with ``aget_connection`` so the event loop is never blocked.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import httpx
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_delivery import __version__
from airflow_delivery.utils.extras import flag
from airflow_delivery.utils.tls import ssl_verify

#: HTTP statuses worth retrying: overload (429) and server-side trouble, as Prometheus returns 503
#: for query timeouts and while it is still starting up.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

_BODY_EXCERPT = 300


class PrometheusError(Exception):
    """Anything that went wrong talking to Prometheus through one Airflow connection."""

    def __init__(self, message: str, *, conn_id: str) -> None:
        super().__init__(message)
        self.conn_id = conn_id


class PrometheusConnectionNotFoundError(PrometheusError, AirflowNotFoundException):
    """The connection id is not defined in any secrets backend."""


class PrometheusConfigError(PrometheusError, ValueError):
    """The connection exists but one of its fields cannot be used (no URL, bad timeout, ...)."""


class PrometheusUnavailableError(PrometheusError):
    """Prometheus could not be reached or kept failing (network error, timeout, 429/5xx) after retries."""


class PrometheusHTTPError(PrometheusError):
    """Prometheus (or a proxy in front of it) answered with an unexpected, non-retryable HTTP status."""

    def __init__(self, message: str, *, conn_id: str, status_code: int) -> None:
        super().__init__(message, conn_id=conn_id)
        self.status_code = status_code


class PrometheusAuthError(PrometheusHTTPError):
    """HTTP 401/403: the connection's credentials were refused."""


class PrometheusQueryError(PrometheusError):
    """Prometheus rejected or failed the query (API ``status: error``)."""

    def __init__(self, message: str, *, conn_id: str, query: str, error_type: str, error: str) -> None:
        super().__init__(message, conn_id=conn_id)
        self.query = query
        self.error_type = error_type
        self.error = error


@dataclass(frozen=True)
class PrometheusSeries:
    """One series of a query result: its labels and ``(unix seconds, value)`` samples in time order."""

    labels: Mapping[str, str]
    samples: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry transient failures (one place, used by sync and async paths).

    The wait before retry ``n`` (1-based) is ``backoff * 2**(n-1)`` capped at ``max_backoff``, unless the
    server sent ``Retry-After``, which wins. A ``Retry-After`` longer than ``max_retry_after`` ends the
    retries at once: waiting minutes inside a task is worse than failing with the reason.
    """

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 10.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be at least 1, got {self.attempts}")
        if self.backoff < 0 or self.max_backoff < 0 or self.max_retry_after < 0:
            raise ValueError("RetryPolicy backoff, max_backoff and max_retry_after must not be negative")

    def delay(self, retry: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        return float(min(self.max_backoff, self.backoff * 2 ** (retry - 1)))


@dataclass(frozen=True)
class PrometheusConnectionConfig:
    """The usable parts of a ``prometheus`` connection; secrets are kept out of ``repr``."""

    conn_id: str
    base_url: str
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    verify_tls: bool = True
    timeout: float = 30.0

    @classmethod
    def from_connection(cls, conn: Any) -> PrometheusConnectionConfig:
        conn_id = conn.conn_id
        extras = conn.extra_dejson or {}

        def extra(name: str) -> Any:
            # The React UI stores conn-fields unprefixed; older forms used extra__prometheus__<name>.
            value = extras.get(name)
            return extras.get(f"extra__prometheus__{name}") if value in (None, "") else value

        host = (conn.host or "").strip()
        if not host:
            raise PrometheusConfigError(
                f"Prometheus connection '{conn_id}' has no host: set it to the Prometheus URL, "
                "e.g. http://prometheus.monitoring:9090",
                conn_id=conn_id,
            )
        if "://" not in host:
            host = f"http://{host}"
        try:
            url = httpx.URL(host)
        except (httpx.InvalidURL, TypeError) as exc:
            raise PrometheusConfigError(
                f"Prometheus connection '{conn_id}' has an invalid host URL: {exc}", conn_id=conn_id
            ) from None
        if url.scheme not in ("http", "https") or not url.host:
            raise PrometheusConfigError(
                f"Prometheus connection '{conn_id}': host must be an http:// or https:// URL "
                "with a host name",
                conn_id=conn_id,
            )
        login, password = conn.login or None, conn.password or None
        if url.username and login is None:  # credentials written into the URL: use them, never show them
            login, password = url.username, url.password or password
        url = url.copy_with(username=None, password=None)
        if conn.port and url.port is None:
            url = url.copy_with(port=int(conn.port))
        return cls(
            conn_id=conn_id,
            base_url=str(url).rstrip("/"),
            login=login,
            password=password,
            bearer_token=extra("bearer_token") or None,
            verify_tls=_parse_bool(extra("verify_tls"), conn_id=conn_id, name="verify_tls", default=True),
            timeout=_parse_timeout(extra("timeout"), conn_id=conn_id),
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.password, self.bearer_token) if s)

    def client_kwargs(self) -> dict[str, Any]:
        headers = {"Accept": "application/json", "User-Agent": f"airflow-delivery/{__version__}"}
        auth: httpx.Auth | None = None
        if self.bearer_token:
            headers["Authorization"] = f"Bearer {self.bearer_token}"
        elif self.login:
            auth = httpx.BasicAuth(self.login, self.password or "")
        return {
            "base_url": self.base_url,
            "headers": headers,
            "auth": auth,
            "verify": ssl_verify(self.verify_tls),
            "timeout": httpx.Timeout(self.timeout),
        }


def _parse_bool(value: Any, *, conn_id: str, name: str, default: bool) -> bool:
    parsed = flag(value, default=default)
    if parsed is not None:
        return parsed
    raise PrometheusConfigError(
        f"Prometheus connection '{conn_id}': extra '{name}' must be true or false, got {value!r}",
        conn_id=conn_id,
    )


def _parse_timeout(value: Any, *, conn_id: str) -> float:
    if value is None or value == "":
        return 30.0
    try:
        timeout = float(value)
    except (TypeError, ValueError):
        timeout = float("nan")
    if not timeout > 0:
        raise PrometheusConfigError(
            f"Prometheus connection '{conn_id}': extra 'timeout' must be a positive number of seconds, "
            f"got {value!r}",
            conn_id=conn_id,
        )
    return timeout


def _timestamp(value: datetime | float | int, name: str) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{name} must be a timezone-aware datetime (e.g. with tzinfo=timezone.utc)")
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a datetime or unix seconds, got {type(value).__name__}")
    return float(value)


def _seconds(value: timedelta | float | int, name: str) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not seconds > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return seconds


def _format_ts(ts: float) -> str:
    return f"{ts:.3f}"


def _parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _parse_value(raw: Any) -> float:
    # Prometheus encodes sample values as strings, including "NaN", "+Inf" and "-Inf"; float() reads all.
    return float(raw)


def parse_result(data: Mapping[str, Any]) -> list[PrometheusSeries]:
    """Turn the ``data`` of a query/query_range response into series (matrix, vector or scalar)."""
    result_type = data.get("resultType")
    result = data.get("result")
    if result_type == "matrix":
        return [
            PrometheusSeries(
                labels=dict(item.get("metric") or {}),
                samples=tuple((float(ts), _parse_value(v)) for ts, v in item.get("values") or ()),
            )
            for item in result or ()
        ]
    if result_type == "vector":
        return [
            PrometheusSeries(
                labels=dict(item.get("metric") or {}),
                samples=((float(item["value"][0]), _parse_value(item["value"][1])),),
            )
            for item in result or ()
        ]
    if result_type == "scalar" and result:
        return [PrometheusSeries(labels={}, samples=((float(result[0]), _parse_value(result[1])),))]
    return []


@dataclass
class _Transient:
    """A failure worth retrying, with the server's ``Retry-After`` if it sent one."""

    description: str
    retry_after: float | None = None


class PrometheusHook(BaseHook):
    """Query the Prometheus HTTP API (``/api/v1``) of a ``prometheus`` connection.

    :param prometheus_conn_id: connection id; host is the Prometheus URL (with any route prefix),
        login/password are basic auth, extras ``bearer_token``, ``verify_tls``, ``timeout`` (seconds
        per request).
    :param retry_policy: how transient failures (network errors, timeouts, 429, 5xx) are retried.
    """

    conn_name_attr = "prometheus_conn_id"
    default_conn_name = "prometheus_default"
    conn_type = "prometheus"
    hook_name = "Prometheus"

    def __init__(
        self,
        prometheus_conn_id: str = default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prometheus_conn_id = prometheus_conn_id
        self.retry_policy = retry_policy or RetryPolicy()
        self._config: PrometheusConnectionConfig | None = None

    # -- connection ---------------------------------------------------------------------------

    def _not_found(self) -> PrometheusConnectionNotFoundError:
        env = "AIRFLOW_CONN_" + self.prometheus_conn_id.upper()
        return PrometheusConnectionNotFoundError(
            f"Prometheus connection '{self.prometheus_conn_id}' is not defined: create it (type "
            f"'prometheus') in Admin > Connections or set the environment variable {env}",
            conn_id=self.prometheus_conn_id,
        )

    @property
    def connection_config(self) -> PrometheusConnectionConfig:
        if self._config is None:
            try:
                conn = self.get_connection(self.prometheus_conn_id)
            except AirflowNotFoundException:
                raise self._not_found() from None
            self._config = PrometheusConnectionConfig.from_connection(conn)
        return self._config

    async def aconnection_config(self) -> PrometheusConnectionConfig:
        if self._config is None:
            try:
                conn = await self.aget_connection(self.prometheus_conn_id)
            except AirflowNotFoundException:
                raise self._not_found() from None
            self._config = PrometheusConnectionConfig.from_connection(conn)
        return self._config

    @cached_property
    def client(self) -> httpx.Client:
        return httpx.Client(**self.connection_config.client_kwargs())

    def get_conn(self) -> httpx.Client:
        return self.client

    def close(self) -> None:
        if "client" in self.__dict__:
            self.client.close()
            del self.__dict__["client"]

    # -- public API ---------------------------------------------------------------------------

    def query_range(
        self,
        query: str,
        start: datetime | float,
        end: datetime | float,
        step: timedelta | float,
    ) -> list[PrometheusSeries]:
        """Evaluate ``query`` at ``start, start+step, ... <= end``; one entry per result series."""
        form = self._range_form(query, start, end, step)
        return parse_result(self._request("POST", "/api/v1/query_range", data=form, query=query))

    async def aquery_range(
        self,
        query: str,
        start: datetime | float,
        end: datetime | float,
        step: timedelta | float,
    ) -> list[PrometheusSeries]:
        """Async :meth:`query_range` for triggers."""
        form = self._range_form(query, start, end, step)
        return parse_result(await self._arequest("POST", "/api/v1/query_range", data=form, query=query))

    def query(self, query: str, at: datetime | float | None = None) -> list[PrometheusSeries]:
        """Instant query at ``at`` (default: Prometheus' now); each series has one sample."""
        form = self._instant_form(query, at)
        return parse_result(self._request("POST", "/api/v1/query", data=form, query=query))

    async def aquery(self, query: str, at: datetime | float | None = None) -> list[PrometheusSeries]:
        """Async :meth:`query`."""
        form = self._instant_form(query, at)
        return parse_result(await self._arequest("POST", "/api/v1/query", data=form, query=query))

    def build_info(self) -> dict[str, Any]:
        """``/api/v1/status/buildinfo`` (version, revision, ...)."""
        return dict(self._request("GET", "/api/v1/status/buildinfo", query=None))

    def test_connection(self) -> tuple[bool, str]:
        """Call Prometheus once (no retries) so the UI's Test button reports the real state quickly."""
        try:
            config = self.connection_config
            info = self._request(
                "GET", "/api/v1/status/buildinfo", query=None, policy=RetryPolicy(attempts=1)
            )
        except Exception as exc:  # noqa: BLE001 - the UI shows the reason instead of a stack trace
            return False, self._redact(str(exc))
        return (
            True,
            f"Connected to Prometheus {info.get('version', '(unknown version)')} at {config.base_url}",
        )

    # -- request building ---------------------------------------------------------------------

    @staticmethod
    def _range_form(
        query: str, start: datetime | float, end: datetime | float, step: timedelta | float
    ) -> dict[str, str]:
        start_ts, end_ts = _timestamp(start, "start"), _timestamp(end, "end")
        if end_ts < start_ts:
            raise ValueError(f"end ({end}) is before start ({start})")
        step_s = _seconds(step, "step")
        return {
            "query": query,
            "start": _format_ts(start_ts),
            "end": _format_ts(end_ts),
            "step": f"{step_s:g}",
        }

    @staticmethod
    def _instant_form(query: str, at: datetime | float | None) -> dict[str, str]:
        form = {"query": query}
        if at is not None:
            form["time"] = _format_ts(_timestamp(at, "at"))
        return form

    # -- transport with retries ---------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: str | None,
        data: Mapping[str, str] | None = None,
        policy: RetryPolicy | None = None,
    ) -> Any:
        policy = policy or self.retry_policy
        config = self.connection_config
        for attempt in range(1, policy.attempts + 1):
            try:
                response = self.client.request(method, path, data=data)
            except httpx.TransportError as exc:
                problem = _Transient(_describe_transport_error(exc, config))
            else:
                outcome = self._interpret(response, query, config)
                if not isinstance(outcome, _Transient):
                    return outcome
                problem = outcome
            delay = self._next_delay(policy, attempt, problem, path, query, config)
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - _next_delay raises on the last attempt

    async def _arequest(
        self,
        method: str,
        path: str,
        *,
        query: str | None,
        data: Mapping[str, str] | None = None,
        policy: RetryPolicy | None = None,
    ) -> Any:
        policy = policy or self.retry_policy
        config = await self.aconnection_config()
        async with httpx.AsyncClient(**config.client_kwargs()) as client:
            for attempt in range(1, policy.attempts + 1):
                try:
                    response = await client.request(method, path, data=data)
                except httpx.TransportError as exc:
                    problem = _Transient(_describe_transport_error(exc, config))
                else:
                    outcome = self._interpret(response, query, config)
                    if not isinstance(outcome, _Transient):
                        return outcome
                    problem = outcome
                delay = self._next_delay(policy, attempt, problem, path, query, config)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _next_delay(
        self,
        policy: RetryPolicy,
        attempt: int,
        problem: _Transient,
        path: str,
        query: str | None,
        config: PrometheusConnectionConfig,
    ) -> float:
        """Log and return the wait before the next attempt, or raise when retrying must stop."""
        what = f"query {query!r}" if query is not None else path
        if attempt >= policy.attempts:
            raise PrometheusUnavailableError(
                self._redact(
                    f"Prometheus at {config.base_url} (connection '{config.conn_id}') failed {what} "
                    f"after {attempt} attempt(s): {problem.description}"
                ),
                conn_id=config.conn_id,
            )
        if problem.retry_after is not None and problem.retry_after > policy.max_retry_after:
            raise PrometheusUnavailableError(
                self._redact(
                    f"Prometheus at {config.base_url} (connection '{config.conn_id}') asked to retry {what} "
                    f"after {problem.retry_after:.0f}s, longer than the {policy.max_retry_after:.0f}s this "
                    f"hook waits: {problem.description}"
                ),
                conn_id=config.conn_id,
            )
        delay = policy.delay(attempt, problem.retry_after)
        self.log.warning(
            "Prometheus connection '%s': %s failed (%s), attempt %d/%d; retrying in %.2fs",
            config.conn_id,
            path,
            self._redact(problem.description),
            attempt,
            policy.attempts,
            delay,
        )
        return delay

    def _interpret(
        self, response: httpx.Response, query: str | None, config: PrometheusConnectionConfig
    ) -> Any:
        """Return the API ``data``, a :class:`_Transient` to retry, or raise a permanent error."""
        status = response.status_code
        body = _json_or_none(response)
        api_error = body if isinstance(body, dict) and body.get("status") == "error" else None
        if status in RETRY_STATUSES:
            detail = _api_error_text(api_error) if api_error else _excerpt(response.text)
            return _Transient(
                f"HTTP {status}{': ' + detail if detail else ''}",
                _parse_retry_after(response.headers.get("Retry-After")),
            )
        if api_error is not None:
            error_type = str(api_error.get("errorType") or "unknown")
            error = str(api_error.get("error") or "")
            where = f"query {query!r}" if query is not None else "request"
            raise PrometheusQueryError(
                self._redact(
                    f"Prometheus (connection '{config.conn_id}') rejected {where}: {error_type}: {error}"
                ),
                conn_id=config.conn_id,
                query=query or "",
                error_type=error_type,
                error=self._redact(error),
            )
        if status in (401, 403):
            raise PrometheusAuthError(
                f"Prometheus at {config.base_url} refused the credentials of connection '{config.conn_id}' "
                f"(HTTP {status}): check its login/password or bearer_token",
                conn_id=config.conn_id,
                status_code=status,
            )
        if status >= 300:
            raise PrometheusHTTPError(
                self._redact(
                    f"Prometheus at {config.base_url} (connection '{config.conn_id}') answered HTTP {status} "
                    f"for {response.request.url.path}: {_excerpt(response.text)}; is the host the Prometheus "
                    "base URL (including any --web.route-prefix)?"
                ),
                conn_id=config.conn_id,
                status_code=status,
            )
        if not isinstance(body, dict) or body.get("status") != "success" or "data" not in body:
            raise PrometheusHTTPError(
                self._redact(
                    f"{config.base_url} (connection '{config.conn_id}') did not answer like the Prometheus "
                    f"HTTP API for {response.request.url.path}: {_excerpt(response.text)}"
                ),
                conn_id=config.conn_id,
                status_code=status,
            )
        for warning in body.get("warnings") or ():
            self.log.warning(
                "Prometheus connection '%s' warns: %s", config.conn_id, self._redact(str(warning))
            )
        return body["data"]

    def _redact(self, text: str) -> str:
        """Blank out this connection's secrets wherever they might have been echoed back."""
        config = self._config
        if config is None:
            return text
        for secret in config.secrets:
            text = text.replace(secret, "***")
        return text


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None


def _api_error_text(body: Mapping[str, Any]) -> str:
    return f"{body.get('errorType') or 'unknown'}: {body.get('error') or ''}"


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _BODY_EXCERPT else text[:_BODY_EXCERPT] + "..."


def _describe_transport_error(exc: httpx.TransportError, config: PrometheusConnectionConfig) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {config.timeout:g}s ({type(exc).__name__})"
    reason = str(exc) or type(exc).__name__
    return f"cannot connect: {reason}"
