"""One Ctrl-C stops every process the supervisor started, even ones that ignore SIGTERM or detach."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

from tests.support import wait_until

# A service that ignores SIGTERM and SIGINT, starts a child in a new session that does the same, and
# double-forks a grandchild so it is orphaned (re-parented) - what airflow standalone's workers do.
STUBBORN = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if len(sys.argv) == 1:
        subprocess.Popen([sys.executable, __file__, "child"], start_new_session=True)
        if os.fork() == 0:
            if os.fork() == 0:
                os.setsid()
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                while True: time.sleep(1)
            os._exit(0)
    while True: time.sleep(1)
    """
)

SUPERVISED = textwrap.dedent(
    """
    import signal, sys, threading
    from pathlib import Path
    from airflow_delivery.demo.supervisor import Supervisor
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    sup = Supervisor(grace_seconds=1.0)
    assert sup.subreaper
    for i in range(2):
        sup.start(f"svc{i}", [sys.executable, sys.argv[1]], log_path=Path(sys.argv[2]) / f"svc{i}.log")
    print("started", flush=True)
    stop.wait()
    sup.stop()
    print("stopped", flush=True)
    """
)


def test_ctrl_c_stops_the_whole_tree(tmp_path: Path) -> None:
    stubborn = tmp_path / "stubborn.py"
    stubborn.write_text(STUBBORN)
    runner = tmp_path / "runner.py"
    runner.write_text(SUPERVISED)
    proc = subprocess.Popen(
        [sys.executable, str(runner), str(stubborn), str(tmp_path)],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        me = psutil.Process(proc.pid)
        # 2 services x (service + its new-session child + the orphaned grandchild)
        def complete_tree() -> list[psutil.Process] | None:
            kids = me.children(recursive=True)
            return kids if len(kids) >= 6 else None

        tree = wait_until(complete_tree, timeout=20, message="the service tree to be complete")
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        assert proc.wait(timeout=30) == 0
        assert proc.stdout.read().strip() == "stopped"
        _, alive = psutil.wait_procs(tree, timeout=10)
        assert alive == [], f"left behind: {[p.pid for p in alive]}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
