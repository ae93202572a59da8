"""``webhook``: call an external system and optionally wait for the job it started (Spinnaker's webhook).

Pure at import time. Secrets never belong in a pipeline file: static ``headers`` that look like
credentials are refused, with the fix (an Airflow connection) in the message. The URL allow-list is an
Airflow setting (``[delivery] webhook_allowed_url_prefixes``), checked when the stage runs.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_delivery.pipeline.model import Duration, Model, StageBase, parse_duration

DEFAULT_COMPLETION_TIMEOUT = "1h"  # Spinnaker's webhook monitor timeout
_SECRET_HEADER = re.compile(
    r"(authorization|cookie|token|secret|password|api[-_]?key|credential)", re.IGNORECASE
)


def _check_duration(value: str | float) -> str | int | float:
    parse_duration(value)
    return value


@lru_cache(maxsize=1024)
def _json_path_problem(path: str) -> str | None:
    """Why ``path`` is not a JSONPath (jsonpath-ng, imported only when a pipeline has one), or None.

    Cached: parsing a path costs about a millisecond and pipelines repeat the same few paths.
    """
    from jsonpath_ng import parse

    try:
        parse(path)
    except Exception as exc:  # noqa: BLE001 - jsonpath-ng's lexer/parser raise several types
        return str(exc)
    return None


def _check_json_path(value: str | None) -> str | None:
    if value is not None and (problem := _json_path_problem(value)) is not None:
        raise ValueError(f"invalid JSON path {value!r}: {problem}; write e.g. '$.status' or '$.links.status'")
    return value


class WebhookRetry(Model):
    """Which answers are retried, how often and how patiently (also used for each status poll)."""

    status_codes: list[int] = Field(
        default_factory=lambda: [429, 502, 503, 504], description="HTTP status codes that are retried."
    )
    max_attempts: int = Field(3, ge=1, le=20, description="Attempts per request before the stage fails.")
    backoff: Duration = Field("1s", description="First wait between attempts; doubles each time.")
    max_backoff: Duration = Field("30s", description="Longest wait between attempts.")

    @field_validator("status_codes")
    @classmethod
    def _check_codes(cls, value: list[int]) -> list[int]:
        bad = [code for code in value if not 400 <= code <= 599]
        if bad:
            raise ValueError(f"only 4xx/5xx answers can be retried, got {bad}")
        return value

    _durations = field_validator("backoff", "max_backoff")(_check_duration)


class WebhookPolling(Model):
    """Wait for the job the call started: poll a status URL until a final status."""

    status_url_from: Literal["same_url", "location_header", "response_json_path"] = Field(
        "same_url",
        description="Where the status URL comes from: the called URL (GET), the answer's Location header, "
        "or status_url_json_path in the answer's JSON.",
    )
    status_url_json_path: str | None = Field(
        None, description="JSONPath of the status URL, e.g. '$.links.status'."
    )
    status_json_path: str = Field(
        ..., description="JSONPath of the status in the status answer, e.g. '$.status'."
    )
    success_statuses: list[str] = Field(..., min_length=1)
    terminal_statuses: list[str] = Field(default_factory=list, description="Statuses that fail the stage.")
    canceled_statuses: list[str] = Field(
        default_factory=list, description="Statuses that fail it as canceled."
    )
    poll_interval: Duration = "10s"

    _paths = field_validator("status_url_json_path", "status_json_path")(_check_json_path)
    _interval = field_validator("poll_interval")(_check_duration)

    @model_validator(mode="after")
    def _check_sources(self) -> WebhookPolling:
        if self.status_url_from == "response_json_path" and not self.status_url_json_path:
            raise ValueError(
                "status_url_from 'response_json_path' needs status_url_json_path, e.g. '$.links.status'"
            )
        if self.status_url_from != "response_json_path" and self.status_url_json_path:
            raise ValueError("status_url_json_path is only read with status_url_from: response_json_path")
        lists = {
            "success_statuses": self.success_statuses,
            "terminal_statuses": self.terminal_statuses,
            "canceled_statuses": self.canceled_statuses,
        }
        seen: dict[str, str] = {}
        for name, values in lists.items():
            for value in values:
                if value in seen and seen[value] != name:
                    raise ValueError(f"status {value!r} is in both {seen[value]} and {name}")
                seen[value] = name
        return self


class WebhookStage(StageBase):
    """Call a URL; with ``wait_for_completion``, poll until the job is done (deferred, no worker slot).

    ``timeout`` bounds the whole stage, polling included (default 1h when waiting).
    """

    type: Literal["webhook"]
    url: str = Field(..., min_length=1, description="URL to call (templated).")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    connection: str | None = Field(
        None,
        description="Airflow connection: its extra (JSON object) is sent as headers, login/password as auth.",
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Static, non-secret headers (templated)."
    )
    payload: dict[str, Any] | list[Any] | str | None = Field(
        None, description="JSON body; strings are templated."
    )
    retry: WebhookRetry = Field(default_factory=WebhookRetry)
    wait_for_completion: WebhookPolling | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith("{{") and not value.startswith(("http://", "https://")):
            raise ValueError(f"url {value!r} must start with http:// or https:// (or be a template)")
        return value

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if _SECRET_HEADER.search(name):
                raise ValueError(
                    f"header {name!r} looks like a credential; pipeline files are not secret: put it in the extra "
                    "of an Airflow connection and name that connection in 'connection'"
                )
        return value


MODEL = WebhookStage


def build(stage: WebhookStage, common: dict[str, Any]) -> Any:
    from airflow_delivery.operators.webhook import WebhookOperator

    polling = stage.wait_for_completion
    timeout = parse_duration(stage.timeout if stage.timeout is not None else DEFAULT_COMPLETION_TIMEOUT)
    options: dict[str, Any] = {
        "url": stage.url,
        "method": stage.method,
        "http_conn_id": stage.connection,
        "headers": dict(stage.headers),
        "payload": stage.payload,
        "retry_status_codes": list(stage.retry.status_codes),
        "max_attempts": stage.retry.max_attempts,
        "backoff": parse_duration(stage.retry.backoff),
        "max_backoff": parse_duration(stage.retry.max_backoff),
        "completion_timeout": timeout,
    }
    if polling is not None:
        options.update(
            wait_for_completion=True,
            status_url_from=polling.status_url_from,
            status_url_json_path=polling.status_url_json_path,
            status_json_path=polling.status_json_path,
            success_statuses=list(polling.success_statuses),
            terminal_statuses=list(polling.terminal_statuses),
            canceled_statuses=list(polling.canceled_statuses),
            poll_interval=parse_duration(polling.poll_interval),
        )
    return WebhookOperator(**options, **common)
