"""The ``webhook`` stage: call an external system, optionally wait for the job it started.

The call is made on the worker, with retries on chosen status codes; waiting for completion is
deferred to :class:`~airflow_delivery.triggers.webhook.WebhookStatusTrigger`, so a long external job
holds no worker slot. Every URL (the call's and the status URL, which comes from the other system's
answer) is checked against ``[delivery] webhook_allowed_url_prefixes`` before any request.

Secrets come only from an Airflow connection (headers in its extra, basic auth or a bearer token);
request headers are never logged nor put into XCom.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urljoin

import httpx
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_delivery.triggers.webhook import (
    DEFAULT_RETRY_STATUS_CODES,
    WebhookError,
    WebhookStatusTrigger,
    backoff_delay,
    check_url_allowed,
    compile_json_path,
    connection_headers,
    http_timeout,
    json_path_value,
    response_body,
)
from airflow_delivery.utils.deferral import ends_in_triggerer

StatusUrlFrom = Literal["same_url", "location_header", "response_json_path"]
STATUS_URL_FROM: tuple[str, ...] = ("same_url", "location_header", "response_json_path")
METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")
# A read timeout after sending a POST/PATCH may mean the job was started: retrying could start it twice.
_IDEMPOTENT = frozenset({"GET", "PUT", "DELETE"})


class WebhookOperator(BaseOperator):
    """Call ``url`` and, with ``wait_for_completion``, poll a status URL until a final status.

    :param url: the URL to call (templated).
    :param method: HTTP method, default ``POST``.
    :param http_conn_id: optional Airflow connection whose extra (JSON object) is sent as headers and
        whose login/password are basic auth (a password alone is a bearer token).
    :param headers: static, non-secret headers (templated).
    :param payload: JSON body (templated: strings inside are rendered); ``None`` sends no body.
    :param retry_status_codes: answers retried with backoff (default 429, 502, 503, 504).
    :param max_attempts: attempts per request (call and each poll) before giving up.
    :param backoff: first wait between attempts, doubled each time up to ``max_backoff``.
    :param wait_for_completion: poll a status URL after the call.
    :param status_url_from: ``same_url`` (GET the called URL), ``location_header`` or
        ``response_json_path`` (``status_url_json_path`` in the call's JSON answer).
    :param status_json_path: JSONPath of the status in the status answer, e.g. ``$.status``.
    :param success_statuses: statuses that end the stage successfully.
    :param terminal_statuses: statuses that fail the stage.
    :param canceled_statuses: statuses that fail the stage as canceled.
    :param poll_interval: time between status polls.
    :param completion_timeout: the stage fails if no final status came this long after it started.
    """

    template_fields: Sequence[str] = ("url", "headers", "payload")
    template_fields_renderers = {"payload": "json", "headers": "json"}
    ui_color = "#e6f4ea"

    def __init__(
        self,
        *,
        url: str,
        method: str = "POST",
        http_conn_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        payload: Any = None,
        retry_status_codes: Sequence[int] = DEFAULT_RETRY_STATUS_CODES,
        max_attempts: int = 3,
        backoff: timedelta = timedelta(seconds=1),
        max_backoff: timedelta = timedelta(seconds=30),
        wait_for_completion: bool = False,
        status_url_from: StatusUrlFrom = "same_url",
        status_url_json_path: str | None = None,
        status_json_path: str | None = None,
        success_statuses: Sequence[str] = (),
        terminal_statuses: Sequence[str] = (),
        canceled_statuses: Sequence[str] = (),
        poll_interval: timedelta = timedelta(seconds=10),
        completion_timeout: timedelta = timedelta(hours=1),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        method = method.upper()
        if method not in METHODS:
            raise ValueError(f"{self.task_id}: method {method!r} is not one of {', '.join(METHODS)}")
        if max_attempts < 1:
            raise ValueError(f"{self.task_id}: max_attempts must be at least 1, got {max_attempts}")
        if wait_for_completion:
            if status_url_from not in STATUS_URL_FROM:
                raise ValueError(
                    f"{self.task_id}: status_url_from {status_url_from!r} is not one of {', '.join(STATUS_URL_FROM)}"
                )
            if not status_json_path:
                raise ValueError(
                    f"{self.task_id}: wait_for_completion needs status_json_path, e.g. '$.status'"
                )
            if not success_statuses:
                raise ValueError(f"{self.task_id}: wait_for_completion needs at least one success status")
            if status_url_from == "response_json_path" and not status_url_json_path:
                raise ValueError(
                    f"{self.task_id}: status_url_from 'response_json_path' needs status_url_json_path"
                )
            for path in (status_json_path, status_url_json_path):
                if path:
                    compile_json_path(path)
        self.url = url
        self.method = method
        self.http_conn_id = http_conn_id
        self.headers = dict(headers or {})
        self.payload = payload
        self.retry_status_codes = [int(code) for code in retry_status_codes]
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.wait_for_completion = wait_for_completion
        self.status_url_from = status_url_from
        self.status_url_json_path = status_url_json_path
        self.status_json_path = status_json_path
        self.success_statuses = [str(s) for s in success_statuses]
        self.terminal_statuses = [str(s) for s in terminal_statuses]
        self.canceled_statuses = [str(s) for s in canceled_statuses]
        self.poll_interval = poll_interval
        self.completion_timeout = completion_timeout

    # -- the call -----------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any] | None:
        started = datetime.now(UTC)
        url = str(self.url)
        try:
            check_url_allowed(url)
        except WebhookError as exc:
            raise AirflowFailException(f"{self.task_id}: {exc}") from None
        body = self._body()
        headers, auth = self._request_settings()
        response, attempts = self._call(url, headers, auth, body)
        result: dict[str, Any] = {
            "url": url,
            "method": self.method,
            "status_code": response.status_code,
            "attempts": attempts,
            "response": response_body(response),
        }
        self.log.info(
            "%s %s answered HTTP %d after %d attempt(s)", self.method, url, response.status_code, attempts
        )
        if not self.wait_for_completion:
            result["outcome"] = "success"
            return result
        try:
            status_url = self._status_url(url, response, result["response"])
            check_url_allowed(status_url)
        except WebhookError as exc:
            context["ti"].xcom_push(
                key="return_value", value={**result, "outcome": "error", "message": str(exc)}
            )
            raise AirflowFailException(f"{self.task_id}: {exc}") from None
        deadline = started + self.completion_timeout
        self.log.info("Polling %s every %s until %s", status_url, self.poll_interval, deadline.isoformat())
        trigger = WebhookStatusTrigger(
            status_url=status_url,
            status_json_path=str(self.status_json_path),
            success_statuses=self.success_statuses,
            terminal_statuses=self.terminal_statuses,
            canceled_statuses=self.canceled_statuses,
            deadline=deadline.isoformat(),
            http_conn_id=self.http_conn_id,
            headers=self.headers,
            poll_interval=self.poll_interval.total_seconds(),
            retry_status_codes=self.retry_status_codes,
            max_attempts=self.max_attempts,
            backoff=self.backoff.total_seconds(),
            max_backoff=self.max_backoff.total_seconds(),
            webhook=result,
            end_from_trigger=ends_in_triggerer(),
        )
        # The trigger enforces the deadline with a clear message; the defer timeout is only a backstop.
        remaining = deadline - datetime.now(UTC)
        self.defer(trigger=trigger, method_name="execute_complete", timeout=remaining + timedelta(minutes=1))
        return None  # pragma: no cover - defer() raises

    def _body(self) -> bytes | None:
        if self.payload is None:
            return None
        payload = self.payload
        if isinstance(payload, str):
            # A templated payload may be a JSON document as text: send it as JSON, after checking it is.
            try:
                payload = json.loads(payload)
            except ValueError:
                raise AirflowFailException(
                    f"{self.task_id}: payload rendered to text that is not JSON: {payload[:200]!r}"
                ) from None
        try:
            return json.dumps(payload).encode()
        except (TypeError, ValueError) as exc:
            raise AirflowFailException(f"{self.task_id}: payload is not JSON-serialisable: {exc}") from None

    def _request_settings(self) -> tuple[dict[str, str], tuple[str, str] | None]:
        headers: dict[str, str] = {"Accept": "application/json"}
        auth = None
        if self.http_conn_id:
            from airflow.sdk.bases.hook import BaseHook

            conn_headers, auth = connection_headers(BaseHook.get_connection(self.http_conn_id))
            headers.update(conn_headers)
        headers.update({str(k): str(v) for k, v in self.headers.items()})
        if self.payload is not None:
            headers.setdefault("Content-Type", "application/json")
        return headers, auth

    def _call(
        self, url: str, headers: dict[str, str], auth: tuple[str, str] | None, body: bytes | None
    ) -> tuple[httpx.Response, int]:
        with httpx.Client(timeout=http_timeout(), follow_redirects=False, auth=auth) as client:
            for attempt in range(1, self.max_attempts + 1):
                retry_after = None
                try:
                    response = client.request(self.method, url, headers=headers, content=body)
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                except httpx.TimeoutException as exc:
                    if self.method not in _IDEMPOTENT:
                        raise AirflowFailException(
                            f"{self.task_id}: {self.method} {url} timed out ({type(exc).__name__}); not retried "
                            "because the request may have been processed"
                        ) from None
                    problem = f"{type(exc).__name__}: {exc}"
                except httpx.HTTPError as exc:
                    raise AirflowFailException(f"{self.task_id}: {self.method} {url} failed: {exc}") from None
                else:
                    if response.status_code < 400:
                        return response, attempt
                    if response.status_code not in self.retry_status_codes:
                        raise AirflowFailException(
                            f"{self.task_id}: {self.method} {url} answered HTTP {response.status_code}: "
                            f"{response.text[:500]}"
                        )
                    retry_after = response.headers.get("Retry-After")
                    problem = f"HTTP {response.status_code}"
                if attempt == self.max_attempts:
                    raise AirflowFailException(
                        f"{self.task_id}: {self.method} {url} failed {attempt} time(s), last: {problem}; "
                        "raise max_attempts or check the service"
                    )
                delay = backoff_delay(
                    attempt,
                    first=self.backoff.total_seconds(),
                    maximum=self.max_backoff.total_seconds(),
                    retry_after=retry_after,
                )
                self.log.warning(
                    "%s %s: %s; attempt %d of %d in %.1fs",
                    self.method,
                    url,
                    problem,
                    attempt + 1,
                    self.max_attempts,
                    delay,
                )
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _status_url(self, url: str, response: httpx.Response, body: Any) -> str:
        if self.status_url_from == "same_url":
            return url
        if self.status_url_from == "location_header":
            location = response.headers.get("Location")
            if not location:
                raise WebhookError(f"the answer of {url} has no Location header to poll")
            return urljoin(url, location)
        value = json_path_value(body, str(self.status_url_json_path))
        if not isinstance(value, str) or not value:
            raise WebhookError(
                f"{self.status_url_json_path!r} in the answer of {url} is {value!r}, not a URL"
            )
        return urljoin(url, value)

    # -- resumed after polling (dag.test, and trigger errors) ------------------------------------

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        if not event or "outcome" not in event:
            raise RuntimeError(f"{self.task_id}: webhook trigger ended without an event: {event!r}")
        if event["outcome"] == "success":
            self.log.info("Webhook job finished: %s", event.get("message"))
            return event
        context["ti"].xcom_push(key="return_value", value=event)
        raise AirflowFailException(
            f"{self.task_id}: webhook job {event['outcome']}: {event.get('message')} (status URL {event.get('status_url')})"
        )
