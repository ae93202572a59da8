"""The webhook stage's rules without Airflow running: allow-list, JSON paths, statuses, backoff,
connection headers, the trigger's serialisation and its polling against a loopback job service."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent, TriggerEvent

from airflow_delivery.triggers.webhook import (
    WebhookError,
    WebhookStatusTrigger,
    WebhookUrlRefused,
    backoff_delay,
    check_url_allowed,
    classify_status,
    compile_json_path,
    connection_headers,
    json_path_value,
    url_matches_prefix,
)
from tests.integration.stages.job_service import Answer, job_service

TRIGGER_CLASS = "airflow_delivery.triggers.webhook.WebhookStatusTrigger"


@pytest.mark.parametrize(
    ("url", "prefix", "allowed"),
    [
        ("https://ci.example.com/jobs/1", "https://ci.example.com", True),
        ("https://ci.example.com", "https://ci.example.com", True),
        ("https://ci.example.com?x=1", "https://ci.example.com", True),
        ("https://ci.example.com.evil.test/jobs", "https://ci.example.com", False),
        ("https://ci.example.com@evil.test/jobs", "https://ci.example.com", False),
        ("https://ci.example.com:8443/jobs", "https://ci.example.com", False),
        ("https://ci.example.com/jobsx", "https://ci.example.com/jobs/", False),
        ("https://ci.example.com/jobs/7", "https://ci.example.com/jobs/", True),
        ("http://ci.example.com/jobs", "https://ci.example.com", False),
    ],
)
def test_prefixes_match_on_a_boundary(url: str, prefix: str, allowed: bool) -> None:
    assert url_matches_prefix(url, prefix) is allowed


def test_allow_list() -> None:
    check_url_allowed("https://a.test/x", [])  # empty allows all
    check_url_allowed("https://a.test/x", ["https://b.test/", "https://a.test/"])
    with pytest.raises(
        WebhookUrlRefused,
        match=r"webhook URL 'https://c.test/x' is not allowed: \[delivery\] "
        r"webhook_allowed_url_prefixes allows only https://a.test/",
    ):
        check_url_allowed("https://c.test/x", ["https://a.test/"])
    with pytest.raises(WebhookUrlRefused, match="must start with http:// or https://"):
        check_url_allowed("file:///etc/passwd", [])


def test_allow_list_is_read_from_airflow_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW__DELIVERY__WEBHOOK_ALLOWED_URL_PREFIXES", "https://a.test/,\n https://b.test/"
    )
    check_url_allowed("https://b.test/x")
    with pytest.raises(WebhookUrlRefused):
        check_url_allowed("https://c.test/x")


def test_json_paths() -> None:
    document = {"job": {"state": "DONE", "steps": [{"ok": True}]}}
    assert json_path_value(document, "$.job.state") == "DONE"
    assert json_path_value(document, "$.job.steps[0].ok") is True
    with pytest.raises(WebhookError, match=r"JSON path '\$.job.missing' matches nothing in the response"):
        json_path_value(document, "$.job.missing")
    with pytest.raises(ValueError, match=r"invalid JSON path '\$\.\['"):
        compile_json_path("$.[")


def test_statuses_compare_as_written_and_json_values_as_json() -> None:
    lists = {"success": ["DONE", "true"], "terminal": ["FAILED"], "canceled": ["CANCELED"]}
    assert classify_status("DONE", **lists) == "success"
    assert classify_status(True, **lists) == "success"
    assert classify_status("FAILED", **lists) == "terminal"
    assert classify_status("CANCELED", **lists) == "canceled"
    assert classify_status("done", **lists) == "running"
    assert classify_status(None, **lists) == "running"


def test_backoff_doubles_is_capped_and_honours_retry_after() -> None:
    delays = [backoff_delay(attempt, first=1.0, maximum=5.0) for attempt in (1, 2, 3, 4)]
    assert (
        0.8 <= delays[0] <= 1.0
        and 1.6 <= delays[1] <= 2.0
        and 3.2 <= delays[2] <= 4.0
        and 4.0 <= delays[3] <= 5.0
    )
    assert backoff_delay(1, first=1.0, maximum=5.0, retry_after="3") == 3.0
    assert backoff_delay(1, first=1.0, maximum=5.0, retry_after="120") == 5.0
    assert 0.8 <= backoff_delay(1, first=1.0, maximum=5.0, retry_after="Wed, 21 Oct 2015 07:28:00 GMT") <= 1.0


def test_connection_headers_and_auth() -> None:
    basic = SimpleNamespace(extra_dejson={"X-Api-Key": "k", "nested": {"no": 1}}, login="bot", password="pw")
    assert connection_headers(basic) == ({"X-Api-Key": "k"}, ("bot", "pw"))
    bearer = SimpleNamespace(extra_dejson={}, login=None, password="tok")
    assert connection_headers(bearer) == ({"Authorization": "Bearer tok"}, None)
    assert connection_headers(None) == ({}, None)


def _trigger(status_url: str, **overrides: object) -> WebhookStatusTrigger:
    deadline = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()
    kwargs: dict[str, object] = {
        "status_url": status_url,
        "status_json_path": "$.state",
        "success_statuses": ["DONE"],
        "terminal_statuses": ["FAILED"],
        "deadline": deadline,
        "poll_interval": 0.01,
        "backoff": 0.01,
        "retry_status_codes": [503],
        "webhook": {"status_code": 201},
        **overrides,
    }
    return WebhookStatusTrigger(**kwargs)  # type: ignore[arg-type]


def test_serialize_gives_every_argument() -> None:
    trigger = _trigger("http://127.0.0.1:1/s", deadline="2030-01-01T00:00:00+00:00", end_from_trigger=True)
    assert trigger.serialize() == (
        TRIGGER_CLASS,
        {
            "status_url": "http://127.0.0.1:1/s",
            "status_json_path": "$.state",
            "success_statuses": ["DONE"],
            "deadline": "2030-01-01T00:00:00+00:00",
            "terminal_statuses": ["FAILED"],
            "canceled_statuses": [],
            "http_conn_id": None,
            "headers": {},
            "poll_interval": 0.01,
            "retry_status_codes": [503],
            "max_attempts": 3,
            "backoff": 0.01,
            "max_backoff": 30.0,
            "webhook": {"status_code": 201},
            "end_from_trigger": True,
        },
    )


def test_a_naive_deadline_is_refused() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        _trigger("http://127.0.0.1:1/s", deadline="2030-01-01T00:00:00")


def _first_event(trigger: WebhookStatusTrigger) -> TriggerEvent:
    async def first() -> TriggerEvent:
        return await trigger.run().asend(None)

    return asyncio.run(first())


def test_trigger_polls_through_retries_and_ends_the_task_in_the_triggerer() -> None:
    with job_service() as jobs:
        jobs.script(
            "GET /s",
            Answer(200, {"state": "RUNNING"}),
            Answer(503, {"error": "busy"}),
            Answer(200, {"state": "DONE"}),
        )
        event = _first_event(_trigger(f"{jobs.url}/s", end_from_trigger=True))
    assert isinstance(event, TaskSuccessEvent)
    result = event.xcoms["return_value"]
    assert result["outcome"] == "success" and result["polls"] == 3 and result["status_code"] == 201


def test_trigger_terminal_status_fails_the_task() -> None:
    with job_service() as jobs:
        jobs.script("GET /s", Answer(200, {"state": "FAILED"}))
        event = _first_event(_trigger(f"{jobs.url}/s", end_from_trigger=True))
    assert isinstance(event, TaskFailedEvent)
    assert event.xcoms["return_value"]["outcome"] == "terminal"


def test_trigger_reports_a_missing_status_as_an_error_for_the_worker() -> None:
    with job_service() as jobs:
        jobs.script("GET /s", Answer(200, {"other": 1}))
        event = _first_event(_trigger(f"{jobs.url}/s", end_from_trigger=True))
    assert type(event) is TriggerEvent  # resumes the worker, which fails with the message
    assert event.payload["outcome"] == "error" and "matches nothing" in event.payload["message"]


def test_trigger_gives_up_after_repeated_failures() -> None:
    with job_service() as jobs:
        jobs.script("GET /s", Answer(503, {"error": "busy"}))
        event = _first_event(_trigger(f"{jobs.url}/s", max_attempts=2))
        assert len(jobs.received("GET /s")) == 2
    assert event.payload["outcome"] == "error"
    assert event.payload["message"] == "status URL failed 2 times in a row (last: HTTP 503)"


def test_trigger_stops_at_the_deadline() -> None:
    with job_service() as jobs:
        jobs.script("GET /s", Answer(200, {"state": "RUNNING"}))
        deadline = (datetime.now(UTC) + timedelta(seconds=0.3)).isoformat()
        event = _first_event(_trigger(f"{jobs.url}/s", deadline=deadline, poll_interval=0.05))
    assert event.payload["outcome"] == "timeout" and event.payload["status"] == "RUNNING"
