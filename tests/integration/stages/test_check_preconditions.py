"""The ``check_preconditions`` stage under ``dag.test()``: expressions rendered by Airflow, stage states.

Covered: true expressions (bare and as templates, over params and an earlier XCom) and a stage status
pass; a false blocking precondition fails the stage and says why (verdict still in XCom); a false
non-blocking one is recorded and the pipeline goes on; an expression that renders to something
other than true/false fails instead of guessing; a failed earlier stage (``on_failure: continue``)
can be checked for.
"""

from __future__ import annotations

from tests.integration.stages.support import states, xcom

PASSING = """\
name: pre_passing
parameters:
  - {name: env, default: staging}
  - {name: score, type: integer, default: 95}
stages:
  - id: soak
    type: wait
    duration: 0s
  - id: gate
    type: check_preconditions
    depends_on: [soak]
    preconditions:
      - type: expression
        expression: "params.env == 'staging' and params.score >= 90"
      - type: expression
        expression: "{{ ti.xcom_pull(task_ids='soak')['waited_until'] is string }}"
      - type: expression
        expression: "stages.soak.waited_until is string and run.id is string"
      - type: stage_status
        stage: soak
      - type: expression
        expression: "params.env == 'prod'"
        fail_pipeline: false
        message: only flagged outside prod
  - id: after
    type: wait
    depends_on: [gate]
    duration: 0s
"""

BLOCKING = """\
name: pre_blocking
parameters:
  - {name: score, type: integer, default: 40}
stages:
  - id: gate
    type: check_preconditions
    preconditions:
      - type: expression
        expression: "params.score >= 90"
        message: canary score below 90
  - id: after
    type: wait
    depends_on: [gate]
    duration: 0s
"""

NOT_BOOLEAN = """\
name: pre_not_boolean
parameters:
  - {name: env, default: staging}
stages:
  - id: gate
    type: check_preconditions
    preconditions:
      - type: expression
        expression: "{{ params.env }}"
"""

AFTER_FAILURE = """\
name: pre_after_failure
stages:
  - id: broken
    type: check_preconditions
    on_failure: continue
    preconditions:
      - {type: expression, expression: "1 == 2"}
  - id: confirm_broken
    type: check_preconditions
    depends_on: [broken]
    preconditions:
      - {type: stage_status, stage: broken, status: [failed, upstream_failed]}
"""


def test_preconditions_that_hold_let_the_pipeline_go_on(load_pipelines) -> None:
    run = load_pipelines(pre_passing=PASSING)["pre_passing"].test()
    assert states(run) == {"soak": "success", "gate": "success", "after": "success"}
    verdict = xcom(run, "gate")
    assert verdict["passed"] is False  # the non-blocking one is false, and recorded
    assert [p["passed"] for p in verdict["preconditions"]] == [True, True, True, True, False]
    assert verdict["preconditions"][3]["detail"] == "stage 'soak' is success; wanted success"
    assert verdict["preconditions"][4]["fail_pipeline"] is False
    assert verdict["preconditions"][4]["detail"].startswith("only flagged outside prod")


def test_a_blocking_precondition_fails_the_stage_with_its_reason(load_pipelines) -> None:
    run = load_pipelines(pre_blocking=BLOCKING)["pre_blocking"].test()
    assert run.state == "failed"
    assert states(run) == {"gate": "failed", "after": "upstream_failed"}
    verdict = xcom(run, "gate")  # published although the stage failed
    assert verdict["passed"] is False
    assert verdict["preconditions"][0]["detail"] == "canary score below 90 (expression is false)"


def test_an_expression_must_render_to_true_or_false(load_pipelines) -> None:
    run = load_pipelines(pre_not_boolean=NOT_BOOLEAN)["pre_not_boolean"].test()
    assert states(run) == {"gate": "failed"}


def test_a_failed_earlier_stage_can_be_checked_for(load_pipelines) -> None:
    run = load_pipelines(pre_after_failure=AFTER_FAILURE)["pre_after_failure"].test()
    assert states(run) == {"broken": "failed", "confirm_broken": "success"}
    verdict = xcom(run, "confirm_broken")
    assert (
        verdict["preconditions"][0]["detail"] == "stage 'broken' is failed; wanted failed or upstream_failed"
    )
