"""A local stand-in for Slack's Web API, so the demo's notifications are visible without a workspace.

The Slack provider's real client (slack_sdk) posts to it because the demo's ``slack_api_default``
connection sets ``base_url`` to this server. It answers ``chat.postMessage`` like Slack does and keeps
every message, printing each one as it arrives.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


class SlackReceiver:
    def __init__(self, port: int = 0, on_message: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self._on_message = on_message
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8") if length else ""
                if "json" in (self.headers.get("Content-Type") or ""):
                    body: dict[str, Any] = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                method = self.path.rstrip("/").rsplit("/", 1)[-1]
                receiver._record(method, body, dict(self.headers))
                payload = {"ok": True, "channel": body.get("channel", ""), "ts": "1700000000.000100"}
                if method == "chat.postMessage":
                    payload["message"] = {"text": body.get("text", "")}
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server API
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-receiver", daemon=True)

    def _record(self, method: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append({"method": method, "body": body, "headers": headers})
            if method == "chat.postMessage":
                self.messages.append(body)
        if method == "chat.postMessage" and self._on_message is not None:
            self._on_message(body)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def start(self) -> SlackReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SlackReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
