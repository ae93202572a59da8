"""The HTTP transport: a stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive and chunked
streaming, one thread per connection (a watch holds its thread, which is fine at sandbox scale).

It only moves bytes; every Kubernetes decision is in ``api.KubeApi``.
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from airflow_delivery.sandbox.api import ApiRequest, ApiResponse, KubeApi, StreamResponse

log = logging.getLogger(__name__)


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], api: KubeApi) -> None:
        self.api = api
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            (self._connections.add if open_ else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """Cut idle keep-alive connections so ``stop()`` does not wait for clients to hang up."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxHTTPServer
    server_version = "airflow-delivery-sandbox"

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        request = ApiRequest.from_target(self.command, self.path, self.headers, self._read_body())
        response = self.server.api.handle(request)
        try:
            if isinstance(response, ApiResponse):
                self._send(response)
            else:
                self._stream(response)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _send(self, response: ApiResponse) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def _stream(self, response: StreamResponse) -> None:
        timer: threading.Timer | None = None
        try:
            self.send_response(200)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache, private")
            self.end_headers()
            self.wfile.flush()
            if response.drop_after_seconds is not None:
                timer = threading.Timer(response.drop_after_seconds, self._drop)
                timer.daemon = True
                timer.start()
            if response.drop_after_chunks == 0:
                self._drop()
                return
            for sent, chunk in enumerate(response.chunks, start=1):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                if response.drop_after_chunks is not None and sent >= response.drop_after_chunks:
                    self._drop()
                    return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError, ValueError):
            self.close_connection = True
        finally:
            if timer is not None:
                timer.cancel()
            closer = getattr(response.chunks, "close", None)
            if closer is not None:
                closer()
            response.close()

    def _drop(self) -> None:
        """Cut the connection mid-stream (fault injection): no terminating chunk, as a crash would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sandbox %s - %s", self.address_string(), format % args)
