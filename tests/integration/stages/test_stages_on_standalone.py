"""People and other systems on a real ``airflow standalone``: judgments, child pipelines, webhooks.

One Airflow for the module (starting one takes most of a minute), with two users: ``admin`` (assigned
to the judgments) and ``bob`` (an operator who is not). Covered:

* a manual judgment waits in ``awaiting_input`` with its rendered instructions; ``bob`` gets 403;
  the admin answers through ``PATCH .../hitlDetails``; the chosen branch runs, the other is skipped;
  the decision (who, what, when, form) is the task's XCom; Slack got "waiting" (with the Required
  Actions link) and "decided"; a second answer is refused (409);
* a judgment nobody answers: the default ``stop`` fails the run (decision recorded); an explicit
  ``on_timeout`` input is applied as the decision and its branch runs;
* a ``pipeline`` stage starts another pipeline with parameters and artifacts and waits (deferred)
  for it; a paused child fails the stage at once;
* a ``webhook`` stage polled by the real triggerer ends there with its result as XCom.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from airflow_delivery.demo.slack_receiver import SlackReceiver
from tests.fixtures.airflow import RunningAirflow, start_standalone
from tests.integration.stages.job_service import Answer, JobService, job_service
from tests.integration.stages.support import write_pipelines
from tests.support import wait_until

pytestmark = pytest.mark.integration

BOB_PASSWORD = "bob-is-not-assigned"

JUDGE_BRANCH = """\
name: judge_branch
parameters:
  - {name: version, default: v1}
stages:
  - id: gate
    type: check_preconditions
    preconditions:
      - {type: expression, expression: "params.version != 'v0'"}
  - id: approve
    type: manual_judgment
    depends_on: [gate]
    subject: "Promote {{ params.version }}?"
    instructions: "Checks of **{{ params.version }}** passed: {{ ti.xcom_pull(task_ids='gate')['passed'] }}."
    inputs:
      - {value: promote, stages: [promote_prod]}
      - {value: rollback, stages: [roll_back]}
      - {value: abort, stop: true}
    form:
      - {name: ticket, type: string, default: none}
    assigned_users: [admin]
    timeout: 10m
    notifications:
      - {channel: "#deploys"}
  - id: promote_prod
    type: wait
    depends_on: [approve]
    duration: 0s
  - id: roll_back
    type: wait
    depends_on: [approve]
    duration: 0s
"""

JUDGE_TIMEOUT_STOP = """\
name: judge_timeout_stop
stages:
  - id: approve
    type: manual_judgment
    assigned_users: [admin]
    timeout: 3s
  - id: after
    type: wait
    depends_on: [approve]
    duration: 0s
"""

JUDGE_TIMEOUT_DEFAULT = """\
name: judge_timeout_default
stages:
  - id: approve
    type: manual_judgment
    inputs:
      - {value: promote, stages: [promote_prod]}
      - {value: rollback, stages: [roll_back]}
    timeout: 3s
    on_timeout: rollback
  - id: promote_prod
    type: wait
    depends_on: [approve]
    duration: 0s
  - id: roll_back
    type: wait
    depends_on: [approve]
    duration: 0s
"""

CHILD = """\
name: child_pipeline
parameters:
  - {name: environment, required: true, type: string}
artifacts:
  - {name: api, repository: registry.local/api, required: false}
stages:
  - id: soak
    type: wait
    duration: 0s
"""

PAUSED_CHILD = CHILD.replace("child_pipeline", "paused_child")

PARENT = """\
name: parent_pipeline
parameters:
  - {name: version, default: v1}
stages:
  - id: start_child
    type: pipeline
    pipeline_name: child_pipeline
    parameters: {environment: production}
    artifacts: {api: "{{ params.version }}"}
    poll_interval: 1s
  - id: start_paused
    type: pipeline
    pipeline_name: paused_child
    parameters: {environment: production}
    wait_for_completion: false
"""


def webhook_pipeline(jobs_url: str) -> str:
    return f"""\
name: hook_real
stages:
  - id: call
    type: webhook
    url: {jobs_url}/jobs
    payload: {{run: "{{{{ run_id }}}}"}}
    wait_for_completion:
      status_url_from: location_header
      status_json_path: $.state
      success_statuses: [DONE]
      poll_interval: 0.2s
"""


@dataclass
class Setup:
    airflow: RunningAirflow
    slack: SlackReceiver
    jobs: JobService

    def admin(self) -> httpx.Client:
        return self.airflow.client()

    def bob(self) -> httpx.Client:
        return self.airflow.client(self.airflow.token("bob", BOB_PASSWORD))


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("stages-standalone")
    with SlackReceiver() as slack, job_service() as jobs:
        dags = write_pipelines(
            tmp / "dags",
            judge_branch=JUDGE_BRANCH,
            judge_timeout_stop=JUDGE_TIMEOUT_STOP,
            judge_timeout_default=JUDGE_TIMEOUT_DEFAULT,
            child_pipeline=CHILD,
            paused_child=PAUSED_CHILD,
            parent_pipeline=PARENT,
            hook_real=webhook_pipeline(jobs.url),
        )
        # A second user, in the passwords file the fixture's home uses (the admin is added to it).
        home = tmp / "airflow-home"
        home.mkdir()
        (home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps({"bob": BOB_PASSWORD}))
        slack_conn = {
            "conn_type": "slack",
            "password": "xoxb-judgment-token",
            "extra": {"base_url": slack.base_url},
        }
        airflow = start_standalone(
            tmp,
            dags_folder=dags,
            env={
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,bob:op",
                "AIRFLOW_CONN_SLACK_API_DEFAULT": json.dumps(slack_conn),
                # The judgment timeout sweep runs this often (default 15 s).
                "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "1",
            },
        )
        try:
            yield Setup(airflow, slack, jobs)
        finally:
            airflow.process.stop()


def start(
    setup: Setup, api: httpx.Client, dag_id: str, run_id: str, conf: dict[str, Any] | None = None
) -> None:
    wait_until(
        lambda: api.get(f"/dags/{dag_id}").status_code == 200,
        timeout=120,
        message=f"the dag-processor to serialise {dag_id}",
    )
    assert api.patch(f"/dags/{dag_id}", json={"is_paused": False}).status_code == 200
    created = api.post(
        f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "dag_run_id": run_id, "conf": conf or {}}
    )
    assert created.status_code == 200, created.text


def wait_for_parked(setup: Setup, api: httpx.Client, dag_id: str, run_id: str, task_id: str) -> None:
    """Wait until the task waits for input and the scheduler has seen its worker exit.

    Airflow 3.3.2 fails a task whose worker exit is reported after the task was already resumed
    ("state changed externally", the race of apache/airflow#66374): an answer given within the
    second or two after the request would hit it. People are slower than this test, so it waits
    for the executor's event, read from the scheduler's log.
    """
    event = (
        "Received executor event with state success for task instance "
        f"TaskInstanceKey(dag_id='{dag_id}', task_id='{task_id}', run_id='{run_id}', try_number=1"
    )
    wait_until(
        lambda: task_states(api, dag_id, run_id).get(task_id) == "awaiting_input"
        and event in setup.airflow.process.log_text(),
        timeout=120,
        interval=0.5,
        message=f"{task_id} to wait for input",
    )


def task_states(api: httpx.Client, dag_id: str, run_id: str) -> dict[str, str | None]:
    tis = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    return {t["task_id"]: t["state"] for t in tis}


def return_value(api: httpx.Client, dag_id: str, run_id: str, task_id: str) -> Any:
    response = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value")
    assert response.status_code == 200, response.text
    return response.json()["value"]


def test_judgment_branches_by_the_answer_of_an_assigned_user(setup: Setup) -> None:
    dag, run = "judge_branch", "b-1"
    hitl = f"/dags/{dag}/dagRuns/{run}/taskInstances/approve/-1/hitlDetails"
    with setup.admin() as api, setup.bob() as bob:
        start(setup, api, dag, run, {"version": "v2"})
        wait_for_parked(setup, api, dag, run, "approve")
        detail = api.get(hitl).json()
        assert detail["subject"] == "Promote v2?"
        assert detail["body"] == "Checks of **v2** passed: True."
        assert detail["options"] == ["promote", "rollback", "abort"]
        assert detail["assigned_users"] == [{"id": "admin", "name": "admin"}]

        refused = bob.patch(hitl, json={"chosen_options": ["rollback"]})
        assert refused.status_code == 403 and "not a respondent" in refused.text, refused.text

        answered = api.patch(hitl, json={"chosen_options": ["promote"], "params_input": {"ticket": "CHG-42"}})
        assert answered.status_code == 200, answered.text
        assert api.patch(hitl, json={"chosen_options": ["rollback"]}).status_code == 409

        assert setup.airflow.wait_for_run(api, dag, run)["state"] == "success"
        assert task_states(api, dag, run) == {
            "gate": "success",
            "approve": "success",
            "promote_prod": "success",
            "roll_back": "skipped",
        }
        decision = return_value(api, dag, run, "approve")
        assert decision["input"] == "promote" and decision["decision"] == "continue"
        assert decision["branches"] == ["promote_prod"]
        assert decision["responded_by"] == {"id": "admin", "name": "admin"}
        assert decision["form"] == {"ticket": "CHG-42"} and decision["timed_out"] is False
        assert decision["responded_at"].startswith("20")

    texts = [m["text"] for m in setup.slack.messages]
    waiting = [
        t for t in texts if "stage *approve* of pipeline *judge_branch* is waiting for a judgment" in t
    ]
    assert waiting, texts
    link = f"{setup.airflow.url}/dags/judge_branch/runs/b-1/tasks/approve/required_actions?map_index=-1"
    assert link in waiting[0] and "*promote*, *rollback*, *abort*" in waiting[0]
    assert any("judgment given" in t and "decision: *promote* by admin" in t for t in texts), texts


def test_unanswered_judgment_stops_the_pipeline_by_default(setup: Setup) -> None:
    dag, run = "judge_timeout_stop", "t-1"
    with setup.admin() as api:
        start(setup, api, dag, run)
        assert setup.airflow.wait_for_run(api, dag, run, timeout=120)["state"] == "failed"
        assert task_states(api, dag, run) == {"approve": "failed", "after": "upstream_failed"}
        decision = return_value(api, dag, run, "approve")
        assert decision["decision"] == "stop" and decision["timed_out"] is True
        assert decision["input"] is None and decision["responded_by"] is None


def test_unanswered_judgment_takes_the_declared_default(setup: Setup) -> None:
    dag, run = "judge_timeout_default", "d-1"
    with setup.admin() as api:
        start(setup, api, dag, run)
        assert setup.airflow.wait_for_run(api, dag, run, timeout=120)["state"] == "success"
        assert task_states(api, dag, run) == {
            "approve": "success",
            "promote_prod": "skipped",
            "roll_back": "success",
        }
        decision = return_value(api, dag, run, "approve")
        assert decision["input"] == "rollback" and decision["timed_out"] is True
        assert decision["responded_by"] is None and decision["branches"] == ["roll_back"]


def test_pipeline_stage_starts_another_pipeline_and_waits_for_it(setup: Setup) -> None:
    with setup.admin() as api:
        wait_until(
            lambda: api.get("/dags/child_pipeline").status_code == 200,
            timeout=120,
            message="child_pipeline to be serialised",
        )
        assert api.patch("/dags/child_pipeline", json={"is_paused": False}).status_code == 200
        wait_until(
            lambda: api.get("/dags/paused_child").status_code == 200,
            timeout=120,
            message="paused_child to be serialised",
        )
        start(setup, api, "parent_pipeline", "p-1", {"version": "v9"})
        assert setup.airflow.wait_for_run(api, "parent_pipeline", "p-1")["state"] == "failed"
        assert task_states(api, "parent_pipeline", "p-1") == {
            "start_child": "success",
            "start_paused": "failed",
        }

        child_run = "parent_pipeline.start_child.p-1"
        child = api.get(f"/dags/child_pipeline/dagRuns/{child_run}").json()
        assert child["state"] == "success", child
        assert child["conf"] == {"environment": "production", "artifacts": {"api": "v9"}}
        started = api.get(
            "/dags/parent_pipeline/dagRuns/p-1/taskInstances/start_child/xcomEntries/trigger_run_id"
        )
        assert started.json()["value"] == child_run
        # A paused pipeline would never run: the stage fails instead of starting a run that waits forever.
        assert api.get("/dags/paused_child/dagRuns").json()["total_entries"] == 0


def test_webhook_polled_by_the_triggerer(setup: Setup) -> None:
    setup.jobs.script("POST /jobs", Answer(201, {"id": 1}, {"Location": "/jobs/1"}))
    setup.jobs.script("GET /jobs/1", Answer(200, {"state": "RUNNING"}), Answer(200, {"state": "DONE"}))
    with setup.admin() as api:
        start(setup, api, "hook_real", "w-1")
        assert setup.airflow.wait_for_run(api, "hook_real", "w-1")["state"] == "success"
        result = return_value(api, "hook_real", "w-1", "call")
    if isinstance(result, str):
        # Airflow 3.3.2 stores XComs of a trigger's end event JSON-encoded twice (models/trigger.py
        # pushes through XComModel.set, which json.dumps into a JSON column): readers get a string.
        result = json.loads(result)
    assert result["outcome"] == "success" and result["status"] == "DONE" and result["polls"] == 2
    assert json.loads(setup.jobs.received("POST /jobs")[0].body) == {"run": "w-1"}
