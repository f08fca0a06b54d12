"""The HTTP server and the `Simulator` object tests and benchmarks use.

Why the standard library server: no dependency, HTTP/1.1 keep-alive, one thread per
connection, which is what the concurrency limit needs. Responses are written in one
`write` with TCP_NODELAY, so keep-alive paging never waits on delayed ACKs.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .app import APIS, App
from .faults import Faults
from .messages import Request, Response, json_response
from .pexip_api import PexipApi
from .settings import Settings
from .stores import PexipStore, ValomniaStore
from .traffic import Traffic
from .valomnia_api import ValomniaApi


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

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
            self._write(app.respond(route, request))
            return
        traffic, faults = app.traffic[route.api], app.faults[route.api]
        k, admitted = traffic.arrive(faults.max_concurrent)
        try:
            self._write(app.respond(route, request, k, admitted))
        finally:
            if admitted:
                traffic.leave()

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


class _Server(ThreadingHTTPServer):
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


class Simulator:
    """Both APIs on one local HTTP server, with seeded data you can change while it runs.

    >>> with Simulator(appointments=1000, seed=7) as sim:  # doctest: +SKIP
    ...     sim.url, sim.pexip.count(), sim.valomnia.ids()[:3]
    """

    def __init__(
        self,
        appointments: int = 5000,
        *,
        pexip_appointments: int | None = None,
        valomnia_appointments: int | None = None,
        seed: int = 42,
        host: str = "127.0.0.1",
        port: int = 0,
        token_ttl_seconds: float = 3600,
        enterprise: str = "acme",
        client_id: str = "apptsync",
        client_secret: str = "pexip-secret",
        username: str = "sync@acme.test",
        password: str = "valomnia-secret",
        ties_per_second: float = 5,
        max_limit: int = 1000,
        session_expiry: str = "redirect",
    ) -> None:
        self.settings = Settings(
            enterprise=enterprise,
            client_id=client_id,
            client_secret=client_secret,
            username=username,
            password=password,
            token_ttl_seconds=token_ttl_seconds,
            max_limit=max_limit,
            session_expiry=session_expiry,
        )
        self.seed = seed
        self.pexip = PexipStore(
            appointments if pexip_appointments is None else pexip_appointments,
            seed,
            ties_per_second=ties_per_second,
            enterprise=enterprise,
            client_id=client_id,
            client_secret=client_secret,
        )
        self.valomnia = ValomniaStore(
            appointments if valomnia_appointments is None else valomnia_appointments,
            seed,
            ties_per_second=ties_per_second,
            username=username,
            password=password,
        )
        self._app = App(
            PexipApi(self.pexip, self.settings), ValomniaApi(self.valomnia, self.settings)
        )
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Listen and serve on a background thread (idempotent)."""
        if self._server is None:
            self._server = _Server(self._address, self._app)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"apptsync-simulator-{self._server.server_port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL of both APIs, e.g. http://127.0.0.1:54321."""
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() or use `with`")
        return f"http://{self._server.server_name}:{self._server.server_port}"

    # --- control --------------------------------------------------------------------------

    def after_request(self, api: str, k: int, fn: Callable[[], object]) -> None:
        """Run `fn()` in the server right after the k-th appointments request of `api` is
        computed (before its answer is sent), so it affects request k+1 onward.

        k counts every request to that endpoint since start or `reset_counters()`, faulted
        ones included; a k that already happened raises ValueError.
        """
        self._traffic(api).after(k, fn)

    def request_count(self, api: str) -> int:
        """Appointments requests of `api` since start or `reset_counters()`."""
        return self._traffic(api).count

    def request_log(self, api: str) -> list[dict[str, Any]]:
        """The last 10,000 appointments requests of `api` (not token or login requests):
        method, path, query (raw string), status (0 for a reset connection), headers."""
        return self._traffic(api).log()

    def reset_counters(self) -> None:
        for api in APIS:
            self._app.traffic[api].reset()

    def faults(self, api: str) -> Faults:
        self._traffic(api)
        return self._app.faults[api]

    def expire_tokens(self) -> None:
        """Every Pexip token issued so far is rejected from now on (401)."""
        self._app.pexip.tokens.expire_all()

    def expire_sessions(self) -> None:
        """Every Valomnia session opened so far is rejected from now on."""
        self._app.valomnia.sessions.expire_all()

    def _traffic(self, api: str) -> Traffic:
        if api not in APIS:
            raise ValueError(f"api must be one of {APIS}, not {api!r}")
        return self._app.traffic[api]


def serve(port: int, appointments: int, seed: int, host: str = "127.0.0.1", **kwargs: Any) -> None:
    """Serve both APIs until Ctrl-C (for `apptsync simulate` and `python -m`)."""
    sim = Simulator(appointments, seed=seed, host=host, port=port, **kwargs).start()
    s = sim.settings
    print(
        f"apptsync simulator on {sim.url} — pexip: enterprise={s.enterprise} "
        f"client_id={s.client_id} client_secret={s.client_secret} | valomnia: "
        f"username={s.username} password={s.password} | {appointments} appointments, "
        f"seed {seed}",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
