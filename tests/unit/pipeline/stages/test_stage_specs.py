"""Spec validation of the people-and-systems stages: each mistake names the file, line and field path.

Stage types: ``manual_judgment``, ``webhook``, ``pipeline``, ``check_preconditions``. Also the
pipeline-level checks each of these modules offers (``check_in_pipeline``), and the operators each
valid stage builds.
"""

from __future__ import annotations

import pytest

from airflow_delivery.pipeline import stages
from airflow_delivery.pipeline.loader import PipelineFileError, parse_pipeline_text
from airflow_delivery.pipeline.stages import check_preconditions, manual_judgment

PATH = "pipelines/p.yaml"


def pipeline(stages: str, head: str = "") -> str:
    return f"name: p\n{head}stages:\n" + stages


def errors_of(text: str) -> list[str]:
    with pytest.raises(PipelineFileError) as info:
        parse_pipeline_text(text, PATH)
    return [str(e) for e in info.value.errors]


def assert_error(text: str, expected: str) -> None:
    errors = errors_of(text)
    assert any(expected in e for e in errors), errors


JUDGMENT = """\
  - id: approve
    type: manual_judgment
    instructions: "score {{ params.x }}"
    inputs:
      - {value: promote, stages: [prod]}
      - {value: rollback, stages: [undo]}
      - {value: abort, stop: true}
    form:
      - {name: ticket, type: string}
    assigned_users: [alice, bob]
    timeout: 72h
    on_timeout: rollback
  - {id: prod, type: wait, duration: 1s, depends_on: [approve]}
  - {id: undo, type: wait, duration: 1s, depends_on: [approve]}
"""


def test_valid_judgment_parses() -> None:
    spec = parse_pipeline_text(pipeline(JUDGMENT), PATH)
    stage = spec.stages[0]
    assert [i.value for i in stage.judgment_inputs] == ["promote", "rollback", "abort"]
    assert stage.branch_targets() == {"prod", "undo"}
    manual_judgment.check_in_pipeline(0, stage, spec)


def test_judgment_defaults_to_continue_or_stop() -> None:
    spec = parse_pipeline_text(pipeline("  - {id: ok, type: manual_judgment}\n"), PATH)
    inputs = spec.stages[0].judgment_inputs
    assert [(i.value, i.stop) for i in inputs] == [("Continue", False), ("Stop", True)]
    assert spec.stages[0].on_timeout == "stop"


@pytest.mark.parametrize(
    ("stages", "expected"),
    [
        (
            "  - {id: j, type: manual_judgment, inputs: []}\n",
            f"{PATH}:3: stages[0].inputs: List should have at least 1",
        ),
        (
            "  - {id: j, type: manual_judgment, inputs: [a, a]}\n",
            "stages[0]: inputs[1].value: 'a' is given twice",
        ),
        (
            "  - {id: j, type: manual_judgment, inputs: [{value: a, stages: [j]}]}\n",
            "cannot branch to itself",
        ),
        (
            "  - {id: j, type: manual_judgment, inputs: [{value: a, stages: [x], stop: true}]}\n",
            "an input that stops the pipeline cannot also run stages",
        ),
        (
            "  - {id: j, type: manual_judgment, inputs: [{value: a, stages: ['no way']}]}\n",
            "stages[0].inputs[0].stages: 'no way' is not a stage id",
        ),
        (
            "  - {id: j, type: manual_judgment, inputs: [a], on_timeout: b, timeout: 1h}\n",
            "on_timeout: 'b' must be 'stop' or one of the inputs: a",
        ),
        (
            "  - {id: j, type: manual_judgment, inputs: [a], on_timeout: a}\n",
            "on_timeout: 'a' applies after 'timeout'",
        ),
        (
            "  - {id: j, type: manual_judgment, assigned_users: [al, al]}\n",
            "stages[0].assigned_users: users are listed twice",
        ),
        (
            "  - {id: j, type: manual_judgment, form: [{name: t}, {name: t}]}\n",
            "form[1].name: 't' is given twice",
        ),
        ("  - {id: j, type: manual_judgment, form: [{name: _options}]}\n", "cannot start with '_'"),
        (
            "  - {id: j, type: manual_judgment, form: [{name: n, type: integer, default: x}]}\n",
            "stages[0].form[0]: default 'x' is not of type integer",
        ),
        (
            "  - {id: j, type: manual_judgment, notifications: [{channel: '#d', when: [failed]}]}\n",
            "stages[0].notifications[0].when[0]",
        ),
        (
            "  - id: j\n    type: manual_judgment\n    instructons: x\n",
            f"{PATH}:5: stages[0].instructons: unknown option",
        ),
    ],
)
def test_judgment_errors(stages: str, expected: str) -> None:
    assert_error(pipeline(stages), expected)


@pytest.mark.parametrize(
    ("stages", "expected"),
    [
        (
            "  - {id: j, type: manual_judgment, inputs: [{value: a, stages: [nope]}]}\n",
            "stages[0].inputs[0].stages: unknown stage 'nope'; known stages: j",
        ),
        (
            "  - {id: j, type: manual_judgment, inputs: [{value: a, stages: [w]}]}\n  - {id: w, type: wait, duration: 1s}\n",
            "stages[0].inputs[0].stages: stage 'w' must list 'j' in its depends_on",
        ),
    ],
)
def test_judgment_branch_targets_are_checked_against_the_pipeline(stages: str, expected: str) -> None:
    assert_error(pipeline(stages), expected)


WEBHOOK = """\
  - id: call
    type: webhook
    url: https://ci.example.com/jobs
    connection: ci_api
    headers: {X-Team: delivery}
    payload: {version: "{{ params.v }}"}
    retry: {status_codes: [429, 503], max_attempts: 5, backoff: 2s}
    wait_for_completion:
      status_url_from: response_json_path
      status_url_json_path: $.links.status
      status_json_path: $.state
      success_statuses: [SUCCEEDED]
      terminal_statuses: [FAILED]
    timeout: 30m
"""


def test_valid_webhook_parses() -> None:
    stage = parse_pipeline_text(pipeline(WEBHOOK), PATH).stages[0]
    assert stage.wait_for_completion.status_json_path == "$.state"
    assert stage.retry.max_attempts == 5


POLL = "{{id: w, type: webhook, url: 'http://x', wait_for_completion: {{status_json_path: $.s, success_statuses: [A], {}}}}}"


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        ("{id: w, type: webhook}", "stages[0].url: Field required"),
        ("{id: w, type: webhook, url: ftp://x}", "must start with http:// or https://"),
        ("{id: w, type: webhook, url: 'http://x', method: BREW}", "stages[0].method: Input should be"),
        (
            "{id: w, type: webhook, url: 'http://x', headers: {Authorization: Bearer x}}",
            "header 'Authorization' looks like a credential",
        ),
        (
            "{id: w, type: webhook, url: 'http://x', headers: {X-Api-Key: k}}",
            "put it in the extra of an Airflow connection",
        ),
        (
            "{id: w, type: webhook, url: 'http://x', retry: {status_codes: [200]}}",
            "only 4xx/5xx answers can be retried",
        ),
        ("{id: w, type: webhook, url: 'http://x', retry: {max_attempts: 0}}", "stages[0].retry.max_attempts"),
        ("{id: w, type: webhook, url: 'http://x', retry: {backoff: soon}}", "stages[0].retry.backoff"),
        (
            "{id: w, type: webhook, url: 'http://x', wait_for_completion: {success_statuses: [OK]}}",
            "stages[0].wait_for_completion.status_json_path: Field required",
        ),
        (
            "{id: w, type: webhook, url: 'http://x', wait_for_completion: {status_json_path: '$.[', success_statuses: [OK]}}",
            "stages[0].wait_for_completion.status_json_path: invalid JSON path '$.['",
        ),
        (
            "{id: w, type: webhook, url: 'http://x', wait_for_completion: {status_json_path: $.s, success_statuses: []}}",
            "success_statuses: List should have at least 1 item",
        ),
        (POLL.format("status_url_from: response_json_path"), "needs status_url_json_path"),
        (
            POLL.format("terminal_statuses: [A]"),
            "status 'A' is in both success_statuses and terminal_statuses",
        ),
        (
            POLL.format("status_url_from: header"),
            "stages[0].wait_for_completion.status_url_from: Input should be",
        ),
    ],
)
def test_webhook_errors(stage: str, expected: str) -> None:
    assert_error(pipeline(f"  - {stage}\n"), expected)


def test_webhook_error_names_the_line() -> None:
    text = pipeline("  - id: w\n    type: webhook\n    url: http://x\n    retry:\n      max_attempts: 99\n")
    assert_error(text, f"{PATH}:7: stages[0].retry.max_attempts: Input should be less than or equal to 20")


CHILD = """\
  - id: promote
    type: pipeline
    pipeline_name: deploy_prod
    parameters: {environment: production, replicas: 3}
    artifacts: {api: "{{ params.artifacts['api'] }}"}
    poll_interval: 5s
"""


def test_valid_pipeline_stage_parses() -> None:
    spec = parse_pipeline_text(pipeline(CHILD), PATH)
    stage = spec.stages[0]
    assert stage.pipeline_name == "deploy_prod" and stage.wait_for_completion is True
    stages.pipeline.check_in_pipeline(0, stage, spec)


def test_a_pipeline_cannot_start_itself() -> None:
    assert_error(
        pipeline("  - {id: again, type: pipeline, pipeline_name: p}\n"),
        "stages[0].pipeline_name: pipeline 'p' cannot start itself",
    )


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        ("{id: c, type: pipeline}", f"{PATH}:3: stages[0].pipeline_name: Field required"),
        (
            "{id: c, type: pipeline, pipeline_name: 'not a dag'}",
            "stages[0].pipeline_name: String should match pattern",
        ),
        (
            "{id: c, type: pipeline, pipeline_name: x, parameters: {artifacts: {}}}",
            "pass artifacts under 'artifacts'",
        ),
        (
            "{id: c, type: pipeline, pipeline_name: x, parameters: {'bad name': 1}}",
            "'bad name' is not a parameter",
        ),
        (
            "{id: c, type: pipeline, pipeline_name: x, parameters: {a: [1]}}",
            "stages[0].parameters: 'a': a value must be a string, number or boolean",
        ),
        (
            "{id: c, type: pipeline, pipeline_name: x, poll_interval: 0.5s}",
            "poll_interval must be at least 1s",
        ),
        ("{id: c, type: pipeline, pipeline_name: x, wait: true}", "stages[0].wait: unknown option"),
    ],
)
def test_pipeline_stage_errors(stage: str, expected: str) -> None:
    assert_error(pipeline(f"  - {stage}\n"), expected)


PRECONDITIONS = """\
  - {id: canary, type: wait, duration: 1s}
  - id: gate
    type: check_preconditions
    depends_on: [canary]
    preconditions:
      - {type: expression, expression: "stages.canary.waited_until is string and params.env == 'prod'"}
      - {type: expression, expression: "{{ ti.xcom_pull(task_ids='canary') is mapping }}", fail_pipeline: false}
      - {type: stage_status, stage: canary, status: [success, skipped]}
"""
ENV = "parameters:\n  - {name: env, default: prod}\n"


def test_valid_preconditions_parse_and_pass_pipeline_checks() -> None:
    spec = parse_pipeline_text(pipeline(PRECONDITIONS, ENV), PATH)
    gate = spec.stages[1]
    assert [p.type for p in gate.preconditions] == ["expression", "expression", "stage_status"]
    check_preconditions.check_in_pipeline(1, gate, spec)


@pytest.mark.parametrize(
    ("precondition", "expected"),
    [
        ("{type: expression}", "stages[1].preconditions[0]: an 'expression' precondition needs 'expression'"),
        ("{type: stage_status}", "needs 'stage' (the id of an earlier stage)"),
        (
            "{type: stage_status, stage: canary, expression: \"params.env == 'a'\"}",
            "'expression' belongs to 'expression' preconditions",
        ),
        (
            "{type: stage_staus, stage: canary}",
            "stages[1].preconditions[0].type: Input should be 'expression' or",
        ),
        (
            "{type: expression, expression: 'params.env =='}",
            "stages[1].preconditions[0]: invalid expression",
        ),
        ("{type: expression, expression: '{{ params.env'}", "invalid template '{{ params.env'"),
        ("{type: expression, expression: 'os.system(1)'}", "unknown name 'os'"),
        ("{type: stage_status, stage: canary, status: done}", "stages[1].preconditions[0].status"),
        ("{type: stage_status, stage: gate}", "a stage cannot check its own status"),
    ],
)
def test_precondition_errors(precondition: str, expected: str) -> None:
    text = pipeline(
        f"  - {{id: canary, type: wait, duration: 1s}}\n  - id: gate\n    type: check_preconditions\n"
        f"    depends_on: [canary]\n    preconditions:\n      - {precondition}\n",
        ENV,
    )
    assert_error(text, expected)


def test_preconditions_need_at_least_one() -> None:
    assert_error(
        pipeline("  - {id: g, type: check_preconditions, preconditions: []}\n"),
        f"{PATH}:3: stages[0].preconditions: List should have at least 1 item",
    )


@pytest.mark.parametrize(
    ("preconditions", "expected"),
    [
        ("[{type: stage_status, stage: later}]", "stages[1].preconditions[0].stage: 'later' is not upstream"),
        ("[{type: stage_status, stage: ghost}]", "'ghost' is an unknown stage"),
        (
            "[{type: expression, expression: 'params.nope == 1'}]",
            "names undefined parameter 'nope'; defined: env",
        ),
        (
            "[{type: expression, expression: 'stages.later.ok'}]",
            "names undefined stage 'later'; defined: canary",
        ),
        ("[{type: expression, expression: \"artifacts['api'] == 'v1'\"}]", "names undefined artifact 'api'"),
    ],
)
def test_preconditions_are_checked_against_the_pipeline(preconditions: str, expected: str) -> None:
    text = pipeline(
        "  - {id: canary, type: wait, duration: 1s}\n"
        f"  - {{id: gate, type: check_preconditions, depends_on: [canary], preconditions: {preconditions}}}\n"
        "  - {id: later, type: wait, duration: 1s, depends_on: [gate]}\n",
        ENV,
    )
    assert_error(text, expected)
