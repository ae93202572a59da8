"""``when``, ``on_failure: continue`` and ``rollback`` in a real Airflow run (``dag.test()``)."""

from __future__ import annotations


PIPELINE = """
name: flow_control
parameters:
  - {name: go, type: boolean, default: false}
stages:
  - {id: first, type: wait, duration: 0.1s}
  - {id: gated, type: wait, duration: 0.1s, depends_on: [first], when: "params.go == true"}
  - {id: after_gated, type: wait, duration: 0.1s, depends_on: [gated]}
  # A condition that cannot be evaluated fails its stage (reads a key the wait result lacks).
  - {id: flaky, type: wait, duration: 0.1s, depends_on: [first], when: "stages.first.nope == 1",
     on_failure: continue}
  - {id: after_flaky, type: wait, duration: 0.1s, depends_on: [flaky]}
  - {id: risky, type: wait, duration: 0.1s, depends_on: [first], when: "stages.first.nope == 1",
     on_failure: rollback, rollback: [undo]}
  - {id: undo, type: wait, duration: 0.1s}
  - {id: after_risky, type: wait, duration: 0.1s, depends_on: [risky]}
  - {id: join, type: wait, duration: 0.1s, depends_on: [after_gated, after_flaky],
     window: {days: [mon, tue, wed, thu, fri, sat, sun], hours: [{start: "00:00", end: "24:00"}]}}
"""


def states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_conditions_continue_and_rollback(pipeline_dag) -> None:
    run = pipeline_dag(PIPELINE).test()
    got = states(run)
    assert got["first"] == "success"
    assert got["gated"] == "skipped"          # params.go is false
    assert got["after_gated"] == "success"    # a skipped condition does not break what follows
    assert got["flaky"] == "failed"           # marked...
    assert got["after_flaky"] == "success"    # ...but the pipeline continued
    assert got["join__window"] == "success"  # an always-open window lets the stage start at once
    assert got["join"] == "success"
    assert got["risky"] == "failed"
    assert got["undo"] == "success"           # the rollback ran
    assert got["after_risky"] == "upstream_failed"
    assert run.state == "failed"              # a rolled-back delivery is a failed run


def test_true_condition_runs_the_stage_and_rollback_is_skipped_on_success(pipeline_dag) -> None:
    text = PIPELINE.replace('"stages.first.nope == 1"', '"stages.first.waited_until != \'\'"')
    run = pipeline_dag(text).test(run_conf={"go": True})
    got = states(run)
    assert got["gated"] == "success"
    assert got["risky"] == "success" and got["undo"] == "skipped"
    assert run.state == "success"
