"""The ``webhook`` stage under ``dag.test()`` against a scripted job service on a loopback port.

Covered: a call that is retried on 503, started with a templated payload and connection headers,
then polled (deferred, status URL from the answer's JSON) until success, with the result in XCom and
no secret in it; a terminal status and a canceled status (Location header) fail the stage; a 4xx is
not retried; the deadline ends endless polling; the URL allow-list refuses the call, and a status
URL outside it, before any request reaches them; a call without waiting.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.integration.stages.job_service import Answer, JobService, job_service
from tests.integration.stages.support import states, xcom

SECRET = "sekret-api-key-123"


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> Iterator[JobService]:
    with job_service() as service:
        conn = {"conn_type": "http", "extra": {"X-Api-Key": SECRET}}
        monkeypatch.setenv("AIRFLOW_CONN_JOBS_API", json.dumps(conn))
        yield service


def pipeline(name: str, stage: str) -> str:
    return (
        f"name: {name}\nparameters:\n  - {{name: version, default: v7}}\nstages:\n  - id: call\n    type: webhook\n"
        + "".join(f"    {line}\n" for line in stage.strip().splitlines())
    )


def polling(url: str, extra: str = "") -> str:
    return f"""
url: {url}
connection: jobs_api
headers: {{X-Team: delivery}}
payload: {{version: "{{{{ params.version }}}}", replicas: 3}}
retry: {{status_codes: [503], max_attempts: 3, backoff: 0.05s}}
wait_for_completion:
  status_url_from: response_json_path
  status_url_json_path: $.links.status
  status_json_path: $.job.state
  success_statuses: [SUCCEEDED]
  terminal_statuses: [FAILED]
  canceled_statuses: [CANCELED]
  poll_interval: 0.05s
{extra}
"""


def test_call_retry_and_poll_until_success(load_pipelines, jobs: JobService) -> None:
    jobs.script(
        "POST /jobs",
        Answer(503, {"error": "busy"}, {"Retry-After": "0"}),
        Answer(201, {"id": 7, "links": {"status": "{base}/jobs/7"}}),
    )
    jobs.script(
        "GET /jobs/7",
        Answer(200, {"job": {"state": "RUNNING"}}),
        Answer(200, {"job": {"state": "RUNNING"}}),
        Answer(200, {"job": {"state": "SUCCEEDED"}, "artifact": "v7"}),
    )
    dags = load_pipelines(hook_ok=pipeline("hook_ok", polling(f"{jobs.url}/jobs")))
    run = dags["hook_ok"].test()
    assert states(run) == {"call": "success"}

    calls = jobs.received("POST /jobs")
    assert len(calls) == 2
    assert json.loads(calls[-1].body) == {"version": "v7", "replicas": 3}
    assert calls[-1].headers["X-Api-Key"] == SECRET and calls[-1].headers["X-Team"] == "delivery"
    polls = jobs.received("GET /jobs/7")
    assert len(polls) == 3 and polls[0].headers["X-Api-Key"] == SECRET  # the trigger reads the connection too

    result = xcom(run, "call")
    assert result["outcome"] == "success" and result["status"] == "SUCCEEDED"
    assert result["status_code"] == 201 and result["attempts"] == 2 and result["polls"] == 3
    assert result["status_url"] == f"{jobs.url}/jobs/7"
    assert result["response"] == {"job": {"state": "SUCCEEDED"}, "artifact": "v7"}
    assert SECRET not in json.dumps(result)


def test_terminal_status_fails_the_stage(load_pipelines, jobs: JobService) -> None:
    jobs.script("POST /jobs", Answer(201, {"links": {"status": "{base}/jobs/8"}}))
    jobs.script("GET /jobs/8", Answer(200, {"job": {"state": "FAILED"}}))
    run = load_pipelines(hook_terminal=pipeline("hook_terminal", polling(f"{jobs.url}/jobs")))[
        "hook_terminal"
    ].test()
    assert states(run) == {"call": "failed"}
    result = xcom(run, "call")
    assert result["outcome"] == "terminal" and result["status"] == "FAILED"


def test_canceled_status_from_the_location_header(load_pipelines, jobs: JobService) -> None:
    jobs.script("PUT /deploys/42", Answer(202, None, {"Location": "/deploys/42/status"}))
    jobs.script("GET /deploys/42/status", Answer(200, {"state": "CANCELED"}))
    stage = f"""
url: {jobs.url}/deploys/42
method: PUT
wait_for_completion:
  status_url_from: location_header
  status_json_path: $.state
  success_statuses: [DONE]
  canceled_statuses: [CANCELED]
  poll_interval: 0.05s
"""
    run = load_pipelines(hook_cancel=pipeline("hook_cancel", stage))["hook_cancel"].test()
    assert states(run) == {"call": "failed"}
    result = xcom(run, "call")
    assert result["outcome"] == "canceled" and result["status_url"] == f"{jobs.url}/deploys/42/status"


def test_client_errors_are_not_retried(load_pipelines, jobs: JobService) -> None:
    jobs.script("POST /jobs", Answer(422, {"error": "bad version"}))
    run = load_pipelines(hook_422=pipeline("hook_422", polling(f"{jobs.url}/jobs")))["hook_422"].test()
    assert states(run) == {"call": "failed"}
    assert len(jobs.received("POST /jobs")) == 1


def test_retries_give_up_after_max_attempts(load_pipelines, jobs: JobService) -> None:
    jobs.script("POST /jobs", Answer(503, {"error": "busy"}))
    run = load_pipelines(hook_busy=pipeline("hook_busy", polling(f"{jobs.url}/jobs")))["hook_busy"].test()
    assert states(run) == {"call": "failed"}
    assert len(jobs.received("POST /jobs")) == 3


def test_the_deadline_ends_endless_polling(load_pipelines, jobs: JobService) -> None:
    jobs.script("POST /jobs", Answer(201, {"links": {"status": "{base}/jobs/9"}}))
    jobs.script("GET /jobs/9", Answer(200, {"job": {"state": "RUNNING"}}))
    text = pipeline("hook_slow", polling(f"{jobs.url}/jobs")) + "    timeout: 1s\n"
    run = load_pipelines(hook_slow=text)["hook_slow"].test()
    assert states(run) == {"call": "failed"}
    result = xcom(run, "call")
    assert result["outcome"] == "timeout" and result["status"] == "RUNNING" and result["polls"] >= 2


def test_allow_list_refuses_the_call_before_sending_it(
    load_pipelines, jobs: JobService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW__DELIVERY__WEBHOOK_ALLOWED_URL_PREFIXES", "https://ci.example.com/, http://127.0.0.1:1/"
    )
    jobs.script("POST /jobs", Answer(201, {"links": {"status": "{base}/jobs/1"}}))
    run = load_pipelines(hook_refused=pipeline("hook_refused", polling(f"{jobs.url}/jobs")))[
        "hook_refused"
    ].test()
    assert states(run) == {"call": "failed"}
    assert jobs.requests == []


def test_allow_list_refuses_a_status_url_outside_it(
    load_pipelines, jobs: JobService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__DELIVERY__WEBHOOK_ALLOWED_URL_PREFIXES", f"{jobs.url}/jobs")
    # The other system points us somewhere we may not go (say, an internal metadata service).
    jobs.script("POST /jobs", Answer(201, {"links": {"status": "{base}/internal/secrets"}}))
    run = load_pipelines(hook_ssrf=pipeline("hook_ssrf", polling(f"{jobs.url}/jobs")))["hook_ssrf"].test()
    assert states(run) == {"call": "failed"}
    assert jobs.received("GET /internal/secrets") == []
    result = xcom(run, "call")
    assert result["outcome"] == "error" and "not allowed" in result["message"]


def test_a_call_without_waiting(load_pipelines, jobs: JobService) -> None:
    jobs.script("DELETE /caches/api", Answer(200, "purged"))
    stage = f"url: {jobs.url}/caches/api\nmethod: DELETE\n"
    run = load_pipelines(hook_once=pipeline("hook_once", stage))["hook_once"].test()
    assert states(run) == {"call": "success"}
    result = xcom(run, "call")
    assert result == {
        "url": f"{jobs.url}/caches/api",
        "method": "DELETE",
        "status_code": 200,
        "attempts": 1,
        "response": "purged",
        "outcome": "success",
    }
