"""Start local services and stop every process they spawned, on one Ctrl-C, within seconds.

``airflow standalone`` does not reliably stop its scheduler, triggerer and executor workers on SIGINT
or SIGTERM, and some of them detach. So the supervisor makes itself a *child subreaper*
(``PR_SET_CHILD_SUBREAPER``): orphaned descendants are re-parented to it instead of to init, remain
visible as its descendants, and are terminated (then killed) with everything else.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux only); False where the kernel does not offer it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


@dataclass
class Service:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    """Owns a set of services; ``stop()`` leaves no descendant process behind."""

    def __init__(self, grace_seconds: float = 5.0) -> None:
        self.grace_seconds = grace_seconds
        self.services: list[Service] = []
        self.subreaper = become_subreaper()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Service:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        service = Service(name=name, argv=list(argv), log_path=log_path, env=dict(env or {}), cwd=cwd)
        service._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        service.process = subprocess.Popen(
            service.argv,
            stdout=service._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **service.env},
            cwd=str(cwd) if cwd else None,
            # Its own process group: the terminal's Ctrl-C reaches only us, and we stop children in order.
            start_new_session=True,
        )
        self.services.append(service)
        return service

    def failed(self) -> list[Service]:
        return [s for s in self.services if s.process is not None and s.process.poll() is not None]

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process().children(recursive=True)
        except psutil.NoSuchProcess:  # pragma: no cover - we are running
            return []

    def stop(self) -> None:
        """SIGTERM every service's group and every descendant, wait, SIGKILL the rest, reap all."""
        for service in reversed(self.services):
            if service.process is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(service.process.pid, signal.SIGTERM)
        procs = self.descendants()
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, alive = psutil.wait_procs(procs, timeout=self.grace_seconds)
        # Children may have spawned more while terminating; take a fresh look before killing.
        for proc in {*alive, *self.descendants()}:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        for service in self.services:
            if service.process is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(service.process.pid, signal.SIGKILL)
        deadline = time.monotonic() + self.grace_seconds
        while self.descendants() and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.05)
        self._reap()
        for service in self.services:
            if service._log is not None:
                service._log.close()

    @staticmethod
    def _reap() -> None:
        # As subreaper we inherit orphans; collect their exit statuses so none stays a zombie.
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
