"""The example pipeline runs to success under ``dag.test()`` and notifies Slack (a local receiver)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from airflow.dag_processing.dagbag import DagBag

from airflow_delivery.demo.slack_receiver import SlackReceiver
from tests.support import REPO_ROOT


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackReceiver]:
    with SlackReceiver() as receiver:
        conn = {"conn_type": "slack", "password": "xoxb-test-token", "extra": {"base_url": receiver.base_url}}
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_API_DEFAULT", json.dumps(conn))
        yield receiver


def test_hello_delivery_succeeds_with_dag_test(airflow_db, slack: SlackReceiver) -> None:
    dag = DagBag(str(REPO_ROOT / "dags"), bundle_path=REPO_ROOT / "dags").dags["hello_delivery"]
    run = dag.test(run_conf={"artifacts": {"demo-app": "v2"}})
    assert run.state == "success"
    ti = run.get_task_instance("soak")
    assert ti.state == "success"
    texts = [m["text"] for m in slack.messages]
    starting = [t for t in texts if "starting" in t]
    assert starting and "pipeline *hello_delivery*" in starting[0] and "`demo-app:v2`" in starting[0]
    assert all(m["channel"] == "#deploys" for m in slack.messages)
    # The token travels as the Authorization header only, never in message bodies.
    assert all("xoxb-test-token" not in json.dumps(r["body"]) for r in slack.requests)
    assert any(r["headers"].get("Authorization") == "Bearer xoxb-test-token" for r in slack.requests)
