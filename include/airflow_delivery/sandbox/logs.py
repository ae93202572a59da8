"""Container logs for ``GET /api/v1/namespaces/<ns>/pods/<pod>/log`` (the emulated kubelet writes them)."""

from __future__ import annotations

import threading


class PodLogs:
    """Lines per ``(namespace, pod, container)``; ``follow`` readers wait on ``changed``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lines: dict[tuple[str, str, str], list[str]] = {}
        self.changed = threading.Condition(self._lock)

    def append(self, namespace: str, pod: str, container: str, lines: list[str]) -> None:
        with self._lock:
            self._lines.setdefault((namespace, pod, container), []).extend(lines)
            self.changed.notify_all()

    def read(self, namespace: str, pod: str, container: str, start: int = 0) -> list[str]:
        with self._lock:
            return list(self._lines.get((namespace, pod, container), [])[start:])

    def forget(self, namespace: str, pod: str) -> None:
        with self._lock:
            for key in [k for k in self._lines if k[0] == namespace and k[1] == pod]:
                del self._lines[key]
