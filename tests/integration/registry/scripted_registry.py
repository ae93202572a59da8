"""A small registry + token server on loopback for what Debian's docker-registry cannot do.

distribution 2.8 has no token server and does not paginate tag lists, and a healthy registry never
answers 429 or 503 on demand. This server speaks just that subset of the Registry HTTP API v2 and the
Docker token protocol, over real HTTP, so the hook's auth negotiation, pagination and retries are
exercised end to end:

- ``GET /token?service=..&scope=..`` issues ``tok-N`` (basic credentials checked when ``users`` is set);
- ``/v2/...`` answers ``401`` + ``WWW-Authenticate: Bearer realm=..,service=..,scope=..`` until a token
  for the right scope is presented (when ``token_auth`` is on);
- ``GET /v2/<name>/tags/list`` paginates with ``n``/``last`` and ``Link: <...>; rel="next"``;
- ``HEAD|GET /v2/<name>/manifests/<ref>`` serves one small manifest per tag;
- ``failures`` queues scripted answers (status, headers, body) for the next ``/v2`` requests.

Every request is recorded with its arrival time so tests can assert what the client did.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from airflow_delivery.artifacts.oci import DOCKER_MANIFEST_V2, canonical_json, sha256_digest
from tests.support import free_port

SERVICE = "scripted-registry"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    at: float


@dataclass
class ScriptedFailure:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class ScriptedRegistry:
    tags: dict[str, list[str]]
    token_auth: bool = True
    users: dict[str, str] = field(default_factory=dict)
    token_lifetime: int = 300
    url: str = ""
    failures: deque[ScriptedFailure] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    token_requests: list[Recorded] = field(default_factory=list)
    link_override: str | None = None  # a fixed Link header for tag lists (to test broken pagination)
    tags_body_override: bytes | None = None
    _tokens: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def manifest(self, name: str, tag: str) -> bytes:
        return canonical_json(
            {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_V2, "annotations": {"ref": f"{name}:{tag}"}}
        )

    def digest(self, name: str, tag: str) -> str:
        return sha256_digest(self.manifest(name, tag))

    def registry_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/v2")]

    # -- request handling (called from the server threads) ---------------------------------------

    def issue_token(self, handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        if self.users:
            user, password = _basic_credentials(handler.headers.get("Authorization"))
            if self.users.get(user or "") != password:
                _send(handler, 401, {"error": "invalid credentials"})
                return
        with self._lock:
            token = f"tok-{len(self._tokens) + 1}"
            self._tokens[token] = " ".join(query.get("scope", []))
        _send(handler, 200, {"token": token, "expires_in": self.token_lifetime})

    def authorized(self, authorization: str | None, scope: str | None) -> bool:
        if not self.token_auth:
            return True
        if not authorization or not authorization.startswith("Bearer "):
            return False
        granted = self._tokens.get(authorization.removeprefix("Bearer "))
        return granted is not None and (scope is None or scope in granted.split())

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parsed = urllib.parse.urlsplit(handler.path)
        query = urllib.parse.parse_qs(parsed.query)
        record = Recorded(method, parsed.path, query, handler.headers.get("Authorization"), time.monotonic())
        if parsed.path == "/token":
            self.token_requests.append(record)
            self.issue_token(handler, query)
            return
        self.requests.append(record)
        with self._lock:
            failure = self.failures.popleft() if self.failures else None
        if failure is not None:
            _send(handler, failure.status, failure.body, failure.headers, head=method == "HEAD")
            return
        path = parsed.path
        name, scope = "", None
        for marker in ("/tags/list", "/manifests/"):
            if marker in path:
                name = path.removeprefix("/v2/").split(marker)[0]
                scope = f"repository:{name}:pull"
        if not self.authorized(record.authorization, scope):
            challenge = f'Bearer realm="{self.url}/token",service="{SERVICE}"'
            if scope:
                challenge += f',scope="{scope}"'
            body = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
            _send(handler, 401, body, {"WWW-Authenticate": challenge}, head=method == "HEAD")
            return
        if path == "/v2/":
            _send(handler, 200, {}, {"Docker-Distribution-API-Version": "registry/2.0"})
        elif path.endswith("/tags/list"):
            self.list_tags(handler, name, query)
        elif "/manifests/" in path:
            tag = path.rsplit("/", 1)[1]
            if tag not in self.tags.get(name, []):
                _send(
                    handler,
                    404,
                    {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]},
                    head=method == "HEAD",
                )
                return
            body = self.manifest(name, tag)
            headers = {"Content-Type": DOCKER_MANIFEST_V2, "Docker-Content-Digest": sha256_digest(body)}
            _send(handler, 200, body, headers, head=method == "HEAD")
        else:
            _send(handler, 404, {"errors": [{"code": "UNSUPPORTED", "message": "not scripted"}]})

    def list_tags(self, handler: BaseHTTPRequestHandler, name: str, query: dict[str, list[str]]) -> None:
        if name not in self.tags:
            _send(
                handler, 404, {"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known"}]}
            )
            return
        if self.tags_body_override is not None:
            _send(handler, 200, self.tags_body_override, {"Content-Type": "application/json"})
            return
        every = sorted(self.tags[name])
        last = query.get("last", [None])[0]
        remaining = [t for t in every if last is None or t > last]
        n = int(query["n"][0]) if "n" in query else len(remaining)
        page = remaining[:n]
        headers = {}
        if self.link_override is not None:
            headers["Link"] = self.link_override
        elif len(remaining) > n:
            next_query = urllib.parse.urlencode({"n": n, "last": page[-1]})
            headers["Link"] = f'</v2/{name}/tags/list?{next_query}>; rel="next"'
        _send(handler, 200, {"name": name, "tags": page}, headers)


def _basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    if not header or not header.startswith("Basic "):
        return None, None
    user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    return user, password


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: object,
    headers: dict[str, str] | None = None,
    *,
    head: bool = False,
) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Length", str(len(raw)))
    if not any(k.lower() == "content-type" for k in (headers or {})):
        handler.send_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    if not head:
        handler.wfile.write(raw)


@contextmanager
def run_scripted_registry(registry: ScriptedRegistry) -> Iterator[ScriptedRegistry]:
    """Serve ``registry`` on a free loopback port until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            registry.handle(self, "GET")

        def do_HEAD(self) -> None:
            registry.handle(self, "HEAD")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    registry.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield registry
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
