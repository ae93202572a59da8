"""What each stage builds: operator types and arguments, and the operators' own argument checks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG

from airflow_delivery.operators.judgment import JudgmentOperator, JudgmentSlackNotifier
from airflow_delivery.operators.preconditions import PreconditionsOperator, rendered_truth
from airflow_delivery.operators.webhook import WebhookOperator
from airflow_delivery.pipeline.factory import build_dag
from airflow_delivery.pipeline.loader import parse_pipeline_text

PIPELINE = """\
name: builds
parameters:
  - {name: version, default: v1}
stages:
  - id: gate
    type: check_preconditions
    preconditions:
      - {type: expression, expression: "params.version != 'v0'"}
      - {type: expression, expression: "{{ params.version }} == v1", fail_pipeline: false}
  - id: approve
    type: manual_judgment
    depends_on: [gate]
    instructions: "Deploy {{ params.version }}?"
    inputs:
      - {value: promote, stages: [child]}
      - {value: hold, stages: []}
      - {value: abort, stop: true}
    form:
      - {name: ticket, type: string, required: true}
    assigned_users: [alice]
    timeout: 2h
    on_timeout: hold
    notifications:
      - {channel: "#deploys", when: [judgment]}
  - id: child
    type: pipeline
    depends_on: [approve]
    pipeline_name: other
    parameters: {environment: prod}
    artifacts: {api: "{{ params.version }}"}
    poll_interval: 30s
  - id: call
    type: webhook
    depends_on: [approve]
    url: https://ci.example.com/hooks
    timeout: 10m
    wait_for_completion: {status_json_path: $.s, success_statuses: [OK], poll_interval: 5s}
"""


@pytest.fixture(scope="module")
def dag() -> DAG:
    return build_dag(parse_pipeline_text(PIPELINE, "builds.yaml"))


def test_check_preconditions_builds_the_operator(dag: DAG) -> None:
    gate = dag.get_task("gate")
    assert isinstance(gate, PreconditionsOperator)
    assert [p["template"] for p in gate.preconditions] == [False, True]


def test_manual_judgment_builds_on_airflow_hitl(dag: DAG) -> None:
    approve = dag.get_task("approve")
    assert isinstance(approve, JudgmentOperator)
    assert approve.options == ["promote", "hold", "abort"]
    assert approve.defaults == ["hold"]  # on_timeout, applied by Airflow's timeout sweep
    assert approve.response_timeout == timedelta(hours=2) and approve.execution_timeout is None
    assert approve.assigned_users == [{"id": "alice", "name": "alice"}]
    assert list(approve.params) == ["ticket"]  # the form only, not the pipeline's parameters
    assert approve.body == "Deploy {{ params.version }}?" and "body" in approve.template_fields
    assert [type(n) for n in approve.notifiers] == [JudgmentSlackNotifier]
    assert approve.branching
    # The chosen input's stages plus downstream stages no input names (none here).
    assert approve._branches({"stages": ["child"]}) == ["child", "call"]
    assert approve._branches({"stages": []}) == ["call"]


def test_pipeline_stage_builds_trigger_dag_run(dag: DAG) -> None:
    child = dag.get_task("child")
    assert isinstance(child, TriggerDagRunOperator)
    assert child.trigger_dag_id == "other"
    assert child.trigger_run_id == "{{ dag.dag_id }}.child.{{ run_id }}"
    assert child.conf == {"environment": "prod", "artifacts": {"api": "{{ params.version }}"}}
    assert child.wait_for_completion and child.deferrable and child.poke_interval == 30
    assert child.fail_when_dag_is_paused


def test_webhook_builds_its_operator(dag: DAG) -> None:
    call = dag.get_task("call")
    assert isinstance(call, WebhookOperator)
    assert call.completion_timeout == timedelta(minutes=10) and call.execution_timeout == timedelta(
        minutes=10
    )
    assert call.wait_for_completion and call.poll_interval == timedelta(seconds=5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"inputs": []}, "give at least one judgment input"),
        ({"inputs": [{"value": "a"}, {"value": "a"}]}, "must be unique"),
        (
            {"inputs": [{"value": "a"}], "on_timeout": "b", "response_timeout": timedelta(1)},
            "must be 'stop' or one",
        ),
        ({"inputs": [{"value": "a"}], "on_timeout": "a"}, "needs a response_timeout"),
        ({"execution_timeout": timedelta(1)}, "pass the time a judge has as response_timeout"),
    ],
)
def test_judgment_operator_checks_its_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        JudgmentOperator(task_id="j", subject="s", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "BREW"}, "method 'BREW' is not one of"),
        ({"max_attempts": 0}, "max_attempts must be at least 1"),
        ({"wait_for_completion": True, "success_statuses": ["OK"]}, "needs status_json_path"),
        ({"wait_for_completion": True, "status_json_path": "$.s"}, "needs at least one success status"),
        (
            {
                "wait_for_completion": True,
                "status_json_path": "$.s",
                "success_statuses": ["OK"],
                "status_url_from": "response_json_path",
            },
            "needs status_url_json_path",
        ),
        (
            {"wait_for_completion": True, "status_json_path": "$.[", "success_statuses": ["OK"]},
            "invalid JSON path",
        ),
    ],
)
def test_webhook_operator_checks_its_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WebhookOperator(task_id="w", url="https://x.test", **kwargs)


@pytest.mark.parametrize(
    ("preconditions", "message"),
    [
        ([], "give at least one precondition"),
        ([{"type": "cluster_size"}], "type 'cluster_size' is not one of"),
        ([{"type": "stage_status", "stage": "x"}], r"preconditions\[0\] \(stage_status\) needs status"),
    ],
)
def test_preconditions_operator_checks_its_arguments(preconditions: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PreconditionsOperator(task_id="p", preconditions=preconditions)


@pytest.mark.parametrize(
    ("text", "truth"),
    [
        ("True", True),
        (" false\n", False),
        ("TRUE", True),
        ("yes", None),
        ("1", None),
        ("", None),
        (True, True),
    ],
)
def test_only_true_or_false_is_a_verdict(text: object, truth: bool | None) -> None:
    assert rendered_truth(text) is truth
