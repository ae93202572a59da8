"""``airflow-delivery demo``: Airflow standalone with this project's pipelines, stopped by one Ctrl-C."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--project-dir", type=Path, default=Path.cwd(), help="repository with dags/ and plugins/ (default: .)"
    )
    parser.add_argument("--home", type=Path, default=None, help="AIRFLOW_HOME (default: PROJECT/.airflow)")
    parser.add_argument("--port", type=int, default=None, help="UI/API port (default: 8080, or a free one)")
    parser.add_argument(
        "--ready-timeout", type=float, default=300.0, help="seconds to wait for Airflow to become healthy"
    )


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def run(args: argparse.Namespace) -> int:
    from airflow_delivery.demo.airflow_env import airflow_executable, local_airflow
    from airflow_delivery.demo.health import airflow_ready
    from airflow_delivery.demo.slack_receiver import SlackReceiver
    from airflow_delivery.demo.supervisor import Supervisor

    project = args.project_dir.resolve()
    if not (project / "dags").is_dir():
        _say(f"no dags/ folder in {project}; run from the repository root or pass --project-dir")
        return 2
    home = (args.home or project / ".airflow").resolve()
    airflow = local_airflow(home, project, api_port=args.port)
    password = airflow.admin_password()

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def show_message(body: dict[str, Any]) -> None:
        _say(f"slack {body.get('channel', '')}: " + str(body.get("text", "")).replace("\n", " | "))

    supervisor = Supervisor()
    slack = SlackReceiver(on_message=show_message).start()
    slack_conn = {"conn_type": "slack", "password": "xoxb-demo-token", "extra": {"base_url": slack.base_url}}
    env = airflow.env(
        {
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW_CONN_SLACK_API_DEFAULT": json.dumps(slack_conn),
        }
    )
    try:
        _say(f"starting Airflow standalone (AIRFLOW_HOME={home}); logs in {home / 'standalone.log'}")
        standalone = supervisor.start(
            "airflow", [airflow_executable(), "standalone"], log_path=home / "standalone.log", env=env, cwd=project
        )
        deadline = time.monotonic() + args.ready_timeout
        while not stop.is_set():
            if not standalone.alive():
                _say(f"Airflow exited early (code {standalone.process.returncode}); see {standalone.log_path}")
                return 1
            if airflow_ready(airflow.url):
                break
            if time.monotonic() > deadline:
                _say(f"Airflow not healthy after {args.ready_timeout:.0f}s; see {standalone.log_path}")
                return 1
            stop.wait(1.0)
        if not stop.is_set():
            _say("ready")
            print(
                f"\n  Airflow UI:  {airflow.url}\n  user:        {airflow.admin_user}\n  password:    {password}\n"
                f"  Slack messages from pipelines are printed below.\n  Press Ctrl-C to stop everything.\n",
                flush=True,
            )
        while not stop.is_set():
            if not standalone.alive():
                _say(f"Airflow exited (code {standalone.process.returncode}); see {standalone.log_path}")
                return 1
            stop.wait(1.0)
        return 0
    finally:
        started = time.monotonic()
        count = len(supervisor.descendants())
        supervisor.stop()
        slack.stop()
        _say(f"stopped {count} processes in {time.monotonic() - started:.1f}s")
        if received:
            sys.stdout.flush()
