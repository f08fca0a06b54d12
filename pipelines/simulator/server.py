"""The HTTP plumbing: one thread per connection, bytes in, bytes out.

Why the standard library server: no dependency, HTTP/1.1 keep-alive, one thread per
connection, which is what the concurrency limit needs. Responses are written in one
`write` with TCP_NODELAY, so keep-alive paging never waits on delayed ACKs.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import struct
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .app import App, Route
from .messages import Request, Response, json_response

logger = logging.getLogger("apptsync.simulator")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line; `Simulator.request_log` has the details."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            self._write(json_response(411, {"error": "send a Content-Length"}))
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        path, _, query = self.path.partition("?")
        request = Request(self.command, path, query, self.headers, body)
        app = self.server.app
        route = app.route(request)
        if not route.appointments or route.api is None:
            self._write(self._respond(route, request))
            return
        traffic, faults = app.traffic[route.api], app.faults[route.api]
        k, admitted = traffic.arrive(faults.max_concurrent)
        try:
            self._write(self._respond(route, request, k, admitted))
        finally:
            if admitted:
                traffic.leave()

    def _respond(
        self, route: Route, request: Request, k: int = 0, admitted: bool = True
    ) -> Response:
        """The app's answer; a simulator bug becomes a loud 500, never a silent disconnect
        that a test would mistake for an injected "reset"."""
        try:
            return self.server.app.respond(route, request, k, admitted)
        except Exception as error:
            logger.exception("simulator error on %s %s", request.method, request.path)
            return json_response(
                500, {"error": "simulator_error", "error_description": repr(error)}
            )

    def _write(self, response: Response) -> None:
        if response.fault == "reset":
            self.close_connection = True
            # SO_LINGER 0: close with a TCP reset instead of an orderly shutdown.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {response.status} {reason}"]
        lines += [f"{name}: {value}" for name, value in response.headers]
        lines.append(f"Content-Length: {len(response.body)}")
        body = response.body
        if response.fault == "truncated":
            self.close_connection = True
            body = body[: len(body) // 2]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup (it can stall for seconds)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, connection: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """End keep-alive connections, whose threads would otherwise outlive `stop`."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
