"""The simulator's webhook sender behaves like the vendor's: retries, then drops."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from pipelines.simulator import Simulator
from pipelines.webhooks.envelope import sign
from pipelines.webhooks.receiver import BackgroundServer

DELAYS = (0.05, 0.2)


@contextmanager
def answering(statuses: Callable[[int], tuple[str, float]]) -> Iterator[tuple[str, list[Any]]]:
    """A receiver whose k-th request gets `statuses(k)` = (status line, seconds to stall)."""
    from waitress.server import create_server

    seen: list[tuple[float, bytes, dict[str, str]]] = []
    lock = threading.Lock()

    def app(environ: dict[str, Any], start: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        with lock:
            seen.append((time.monotonic(), body, {"sig": environ.get("HTTP_X_SIGNATURE", "")}))
            status, stall = statuses(len(seen))
        time.sleep(stall)
        start(status, [("Content-Length", "0")])
        return [b""]

    with BackgroundServer(create_server(app, host="127.0.0.1", port=0, threads=4)) as server:
        yield server.url, seen


def test_every_change_is_delivered_once_signed_with_the_full_appointment():
    with (
        Simulator(appointments=20, seed=3) as sim,
        answering(lambda k: ("200 OK", 0)) as (url, seen),
    ):
        sender = sim.send_webhooks(url, secret="s3cret", retry_delays=DELAYS)
        ids = sim.pexip.ids()
        sim.pexip.update(ids[:2])
        created = sim.pexip.insert(1)
        sim.pexip.delete([ids[5]])
        assert sender.wait_idle()

    events = [orjson.loads(body) for _, body, _ in seen]
    assert sorted(e["type"] for e in events) == [
        "CREATE",
        "DELETE",
        "GENERIC_UPDATE",
        "GENERIC_UPDATE",
    ]
    by_id = {e["data"]["id"]: e for e in events}
    assert set(by_id) == {ids[0], ids[1], created[0], ids[5]}
    assert by_id[ids[0]]["data"]["internalNotes"] == "Revision 1"
    assert all(h["sig"] == sign(body, "s3cret") for _, body, h in seen)
    assert sorted(sender.delivered) == sorted(e["id"] for e in sender.events)
    assert sender.dropped == []


def test_a_failing_receiver_gets_three_attempts_then_the_event_is_dropped():
    with (
        Simulator(appointments=5, seed=3) as sim,
        answering(lambda k: ("500 Oops", 0)) as (url, seen),
    ):
        sender = sim.send_webhooks(url, retry_delays=DELAYS)
        sim.pexip.update(sim.pexip.ids()[:1])
        assert sender.wait_idle()

    assert len(seen) == 3
    assert len({body for _, body, _ in seen}) == 1  # the same event id and body each time
    gaps = [b[0] - a[0] for a, b in zip(seen, seen[1:], strict=False)]
    assert all(gap >= delay for gap, delay in zip(gaps, DELAYS, strict=True))
    assert sender.dropped == [sender.events[0]["id"]]
    assert sender.delivered == []


def test_a_delivery_that_times_out_is_sent_again():
    def slow_first(k: int) -> tuple[str, float]:
        return ("200 OK", 1.0 if k == 1 else 0)

    with Simulator(appointments=5, seed=3) as sim, answering(slow_first) as (url, seen):
        sender = sim.send_webhooks(url, retry_delays=DELAYS, timeout=0.2)
        sim.pexip.update(sim.pexip.ids()[:1])
        assert sender.wait_idle()

    assert len(seen) == 2
    assert sender.delivered == [sender.events[0]["id"]]


def test_an_unreachable_receiver_means_dropped_events():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Simulator(appointments=5, seed=3) as sim:
        sender = sim.send_webhooks(f"http://127.0.0.1:{port}/", retry_delays=DELAYS)
        sim.pexip.update(sim.pexip.ids()[:2])
        assert sender.wait_idle()

    assert sender.attempts == 6
    assert sorted(sender.dropped) == sorted(e["id"] for e in sender.events)


def test_duplicates_drops_and_reordering_happen_on_demand():
    with (
        Simulator(appointments=10, seed=3) as sim,
        answering(lambda k: ("200 OK", 0)) as (url, seen),
    ):
        sender = sim.send_webhooks(url, retry_delays=DELAYS, workers=1)
        ids = sim.pexip.ids()
        sender.drop_next(1)
        sender.duplicate_next(1)
        sender.hold()
        for ident in ids[:4]:
            sim.pexip.update([ident])
        assert sender.release(order="reversed") == 4  # 3 sent, one of them twice
        assert sender.wait_idle()

    got = [orjson.loads(body)["data"]["id"] for _, body, _ in seen]
    assert got == [ids[3], ids[2], ids[1], ids[1]]
    assert sender.dropped == [sender.events[0]["id"]]
