"""A scripted HTTP job service on a free loopback port: what the webhook stage calls and polls.

Each route (``"POST /jobs"``) answers from its script in order, repeating the last answer; every
request is recorded (method, path, headers, body) so tests can assert what the stage sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import free_port


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: str


class JobService:
    def __init__(self) -> None:
        self.port = free_port()
        self.scripts: dict[str, list[Answer]] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                route = f"{self.command} {self.path}"
                answer = service._next(route, Request(self.command, self.path, dict(self.headers), body))
                data = (
                    b""
                    if answer.body is None
                    else (
                        answer.body.encode()
                        if isinstance(answer.body, str)
                        else json.dumps(answer.body).encode()
                    )
                )
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in answer.headers.items():
                    self.send_header(name, value.replace("{base}", service.url))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="job-service", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, route: str, *answers: Answer) -> None:
        with self._lock:
            self.scripts[route] = list(answers)

    def _next(self, route: str, request: Request) -> Answer:
        with self._lock:
            self.requests.append(request)
            script = self.scripts.get(route)
            if not script:
                return Answer(404, {"error": f"no route {route}"})
            answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer.body, dict):
            answer = Answer(
                answer.status, json.loads(json.dumps(answer.body).replace("{base}", self.url)), answer.headers
            )
        return answer

    def received(self, route: str) -> list[Request]:
        method, path = route.split(" ", 1)
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]


@contextmanager
def job_service() -> Iterator[JobService]:
    service = JobService()
    service._thread.start()
    try:
        yield service
    finally:
        service._server.shutdown()
        service._server.server_close()
