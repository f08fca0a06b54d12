"""`apptsync webhooks serve`: a WSGI app on waitress that verifies and spools deliveries.

Why waitress: a production WSGI server in pure Python with no dependencies of its own, a
thread pool (an fsync blocks one worker, not the others) and plain WSGI, so the app stays a
function that tests can call. The receiver touches only the spool: it never opens the
warehouse, so it answers in milliseconds while a sync runs.

Answers: 200 accepted (spooled and fsynced); 400 malformed (kept in `rejected/`);
401 unsigned or wrongly signed when a secret is configured (not kept); 405 other methods;
413 bodies over `MAX_BODY_BYTES`; `GET /healthz` 200.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from pipelines.redaction import get_logger
from pipelines.webhooks.envelope import MalformedDelivery, parse_delivery, signature_valid
from pipelines.webhooks.settings import WebhookSettings
from pipelines.webhooks.spool import Spool

logger = get_logger("apptsync.webhooks")

MAX_BODY_BYTES = 5 * 1024 * 1024
THREADS = 8

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _answer(start: StartResponse, status: str, payload: dict[str, Any]) -> list[bytes]:
    body = orjson.dumps(payload)
    start(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def make_app(
    settings: WebhookSettings, spool: Spool
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI application."""
    header_key = "HTTP_" + settings.signature_header.upper().replace("-", "_")

    def app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "GET" and environ.get("PATH_INFO") == "/healthz":
            return _answer(start, "200 OK", {"status": "ok"})
        if method != "POST":
            return _answer(start, "405 Method Not Allowed", {"error": "POST deliveries only"})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            return _answer(start, "413 Content Too Large", {"error": "body too large"})
        body = environ["wsgi.input"].read(length) if length else b""
        if not signature_valid(settings, body, environ.get(header_key)):
            logger.warning(
                "refused a delivery with a missing or wrong %s", settings.signature_header
            )
            return _answer(start, "401 Unauthorized", {"error": "missing or wrong signature"})
        try:
            delivery = parse_delivery(settings, body)
        except MalformedDelivery as exc:
            kept = spool.reject(body, str(exc))
            logger.warning("kept a malformed delivery aside in %s: %s", kept, exc)
            return _answer(start, "400 Bad Request", {"error": str(exc)})
        spool.append(delivery.event_id, delivery.type, delivery.data)
        return _answer(start, "200 OK", {"status": "accepted", "id": delivery.event_id})

    return app


def create(settings: WebhookSettings, host: str, port: int, threads: int = THREADS) -> Any:
    """A waitress server for the receiver, bound but not yet running."""
    from waitress.server import create_server

    spool = Spool(settings.spool_dir)
    spool.repair_tail()
    if settings.secret is None:
        logger.warning("no webhook_secret configured: deliveries are accepted unverified")
    return create_server(
        make_app(settings, spool),
        host=host,
        port=port,
        threads=threads,
        max_request_body_size=MAX_BODY_BYTES + 1,
        ident="apptsync",
    )


class BackgroundServer:
    """A waitress server on a thread of this process, for tests and for embedding."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.url = f"http://{server.effective_host}:{server.effective_port}/"
        self._thread = threading.Thread(target=server.run, name="apptsync-webhooks")

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Closes every channel from the server's own loop (waitress is not thread-safe),
        which ends the loop, then stops its workers."""
        from waitress import wasyncore

        server = self.server
        try:
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        except OSError:
            # the trigger's pipe is already gone (seen once in the suite, cause unknown):
            # close from here; the loop ends at its next timeout, on an empty map
            logger.warning("webhook receiver: stopping without its trigger", exc_info=True)
            wasyncore.close_all(server._map)
        self._thread.join(timeout=10)
        server.task_dispatcher.shutdown()


def background_receiver(
    settings: WebhookSettings, host: str = "127.0.0.1", port: int = 0
) -> BackgroundServer:
    return BackgroundServer(create(settings, host, port, threads=4))


def serve(settings: WebhookSettings, host: str, port: int, threads: int = THREADS) -> None:
    """Serve until interrupted; prints the listening URL first (port 0 picks a free one)."""
    server = create(settings, host, port, threads)
    print(
        f"receiving webhooks on http://{host}:{server.effective_port} into {settings.spool_dir}",
        flush=True,
    )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        sys.stdout.flush()
