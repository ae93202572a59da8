"""Stage-level Slack notifications reach Slack (a local receiver) naming stage, pipeline and run."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from airflow_delivery.demo.slack_receiver import SlackReceiver

PIPELINE = """
name: notified
stages:
  - id: first
    type: wait
    duration: 0s
    notifications: [{channel: "#stages", when: [starting, complete]}]
  - id: second
    type: wait
    duration: 0s
    depends_on: [first]
    when: "stages.first.nope == 1"
    notifications: [{channel: "#alerts"}]
"""


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackReceiver]:
    with SlackReceiver() as receiver:
        conn = {"conn_type": "slack", "password": "xoxb-t", "extra": {"base_url": receiver.base_url}}
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_API_DEFAULT", json.dumps(conn))
        yield receiver


def test_stage_notifications(pipeline_dag, slack: SlackReceiver) -> None:
    run = pipeline_dag(PIPELINE).test()
    assert run.state == "failed"
    by_channel: dict[str, list[str]] = {}
    for message in slack.messages:
        by_channel.setdefault(message["channel"], []).append(message["text"])
    assert any("stage *first* of pipeline *notified* starting" in t for t in by_channel["#stages"])
    assert any("stage *first* of pipeline *notified* complete" in t for t in by_channel["#stages"])
    # The default for a stage is to announce failures only.
    assert len(by_channel["#alerts"]) == 1 and "stage *second* of pipeline *notified* failed" in by_channel["#alerts"][0]
    assert all(run.run_id in t for texts in by_channel.values() for t in texts)
