"""A real ``airflow standalone``: REST API v2 with a token, the dag-processor's import errors, the demo."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from airflow_delivery.demo.airflow_env import free_port
from tests.fixtures.airflow import start_standalone
from tests.support import REPO_ROOT, wait_until

pytestmark = pytest.mark.integration


def test_rest_api_unpause_trigger_and_import_errors(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    shutil.copytree(REPO_ROOT / "dags", dags)
    (dags / "pipelines" / "broken.yaml").write_text("name: broken\nstages:\n  - id: a\n    type: nope\n")
    # The second stage reads the result of the first, which ended in the triggerer.
    (dags / "pipelines" / "chain.yaml").write_text(
        "name: chain\nstages:\n  - {id: first, type: wait, duration: 0s}\n"
        "  - {id: second, type: wait, duration: 0s, depends_on: [first],"
        " when: \"stages.first.status == 'success'\"}\n"
    )
    airflow = start_standalone(tmp_path, dags_folder=dags)
    try:
        assert httpx.get(f"{airflow.url}/api/v2/dags", timeout=10).status_code == 401
        bad = httpx.post(f"{airflow.url}/auth/token", json={"username": "admin", "password": "wrong"}, timeout=10)
        assert bad.status_code == 401

        with airflow.client() as api:
            dag = wait_until(
                lambda: (r := api.get("/dags/hello_delivery")).status_code == 200 and r.json(),
                timeout=120, message="the dag-processor to serialise hello_delivery",
            )
            assert dag["is_paused"] is True  # new pipelines start paused, as Airflow's default
            errors = wait_until(
                lambda: [e for e in api.get("/importErrors").json()["import_errors"] if "broken.yaml" in e["filename"]],
                timeout=120, message="the import error of broken.yaml",
            )
            assert "stages[0].type: unknown stage type 'nope'" in errors[0]["stack_trace"]

            assert api.patch("/dags/hello_delivery", json={"is_paused": False}).status_code == 200
            # Run parameters are validated before any stage runs: an unknown artifact is refused.
            refused = api.post(
                "/dags/hello_delivery/dagRuns",
                json={"logical_date": None, "dag_run_id": "rest-0", "conf": {"artifacts": {"app": "v1"}}},
            )
            assert refused.status_code == 400 and "artifacts" in refused.text, refused.text
            created = api.post(
                "/dags/hello_delivery/dagRuns",
                json={"logical_date": None, "dag_run_id": "rest-1", "conf": {"artifacts": {"demo-app": "v1"}}},
            )
            assert created.status_code == 200, created.text
            run = airflow.wait_for_run(api, "hello_delivery", "rest-1")
            assert run["state"] == "success", airflow.process.log_text()[-4000:]
            tis = api.get("/dags/hello_delivery/dagRuns/rest-1/taskInstances").json()["task_instances"]
            assert {(t["task_id"], t["state"]) for t in tis} == {("soak", "success")}
            # The wait ended in the triggerer: its result is the task's XCom.
            xcom = api.get("/dags/hello_delivery/dagRuns/rest-1/taskInstances/soak/xcomEntries/return_value")
            assert xcom.status_code == 200 and "moment" in str(xcom.json()["value"])

            assert api.patch("/dags/chain", json={"is_paused": False}).status_code == 200
            assert api.post("/dags/chain/dagRuns", json={"logical_date": None, "dag_run_id": "c1"}).status_code == 200
            assert airflow.wait_for_run(api, "chain", "c1")["state"] == "success"
            tis = api.get("/dags/chain/dagRuns/c1/taskInstances").json()["task_instances"]
            assert {(t["task_id"], t["state"]) for t in tis} == {("first", "success"), ("second", "success")}
    finally:
        airflow.process.stop()


@pytest.mark.e2e
def test_demo_serves_the_example_and_one_ctrl_c_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.out"
    with open(log, "w") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "airflow_delivery.cli", "demo", "--project-dir", str(REPO_ROOT),
             "--home", str(tmp_path / "home"), "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_until(lambda: "[demo] ready" in log.read_text() or demo.poll() is not None, timeout=240, interval=1,
                   message="the demo to say it is ready")
        text = log.read_text()
        assert demo.poll() is None, text
        assert f"Airflow UI:  http://127.0.0.1:{port}" in text
        password = text.split("password:")[1].split()[0]
        token = httpx.post(f"http://127.0.0.1:{port}/auth/token", json={"username": "admin", "password": password},
                           timeout=30).json()["access_token"]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v2", headers={"Authorization": f"Bearer {token}"},
                          timeout=30) as api:
            wait_until(lambda: api.get("/dags/hello_delivery").status_code == 200, timeout=120,
                       message="hello_delivery to be parsed")
            assert api.post("/dags/hello_delivery/dagRuns", json={"logical_date": None, "dag_run_id": "demo-1"}
                            ).status_code == 200
            wait_until(lambda: api.get("/dags/hello_delivery/dagRuns/demo-1").json()["state"] == "success",
                       timeout=180, interval=0.5, message="the demo run to succeed")
        wait_until(lambda: "pipeline *hello_delivery* complete" in log.read_text(), timeout=60,
                   message="the 'complete' Slack message in the demo output")

        tree = psutil.Process(demo.pid).children(recursive=True)
        assert len(tree) > 5
        started = time.monotonic()
        os.killpg(demo.pid, signal.SIGINT)  # a terminal's Ctrl-C
        demo.wait(timeout=30)
        _, alive = psutil.wait_procs(tree, timeout=15)
        assert alive == [], f"still running: {[(p.pid, p.name()) for p in alive]}"
        assert time.monotonic() - started < 20
        assert "[demo] stopped" in log.read_text()
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
