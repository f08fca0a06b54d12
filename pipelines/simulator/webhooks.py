"""Webhook deliveries for every change, with the vendor's retry schedule and faults on demand.

Why: the events-first sync must be tested against deliveries that behave like the vendor's
(API-NOTES.md): each change is POSTed to a configured URL with a 3 s timeout; a failed
delivery (non-2xx, lost connection, time-out) is sent again after 2 s and after 10 s, then
dropped for good; the event id stays the same across retries. Tests shrink the delays and
ask for duplicates, drops and reordering explicitly.

    sender = sim.send_webhooks(url, secret="s3cret", retry_delays=(0.05, 0.2))
    sender.duplicate_next(2); sender.drop_next(1)
    sender.hold(); sim.pexip.update(ids); sender.release(order="reversed")
    sender.wait_idle()
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import random
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from .data import iso_ms
from .store import Store

VENDOR_TIMEOUT_SECONDS = 3.0
VENDOR_RETRY_DELAYS = (2.0, 10.0)
EVENT_TYPES = {"insert": "CREATE", "update": "GENERIC_UPDATE", "delete": "DELETE"}
ORDERS = ("as-is", "reversed", "shuffled")


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    delivery: _Delivery = field(compare=False)


@dataclass
class _Delivery:
    event_id: str
    body: bytes
    attempt: int = 0  # attempts made so far


class WebhookSender:
    """Sends a store's changes to `url` as `{"id", "type", "createdAt", "data"}` events."""

    def __init__(
        self,
        store: Store[Any],
        url: str,
        *,
        secret: str | None = None,
        signature: str = "hmac-sha256",
        header: str = "X-Signature",
        timeout: float = VENDOR_TIMEOUT_SECONDS,
        retry_delays: Sequence[float] = VENDOR_RETRY_DELAYS,
        workers: int = 4,
        seed: int = 0,
    ) -> None:
        if signature not in ("hmac-sha256", "shared-secret"):
            raise ValueError("signature must be hmac-sha256 or shared-secret")
        self.store, self.url = store, url
        self.secret, self.signature, self.header = secret, signature, header
        self.timeout, self.retry_delays = timeout, tuple(retry_delays)
        self._rng = random.Random(seed)
        self._cond = threading.Condition()
        self._heap: list[_Due] = []
        self._seq = itertools.count()
        self._held: list[_Delivery] | None = None
        self._in_flight = 0
        self._drop_next = 0
        self._duplicate_next = 0
        self._stopped = False
        self.events: list[dict[str, Any]] = []  # every event generated, in change order
        self.delivered: list[str] = []  # event ids answered 2xx (duplicates repeat)
        self.dropped: list[str] = []  # event ids given up (retries spent, or on demand)
        self.attempts = 0
        self._client = httpx.Client(timeout=timeout)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="sim-webhook")
        self._scheduler = threading.Thread(target=self._run, name="sim-webhooks", daemon=True)
        self._scheduler.start()
        store.observe(self._on_change)

    # --- faults on demand -------------------------------------------------------------------

    def drop_next(self, n: int) -> None:
        """The next n events are never delivered (as if every attempt had failed)."""
        with self._cond:
            self._drop_next += n

    def duplicate_next(self, n: int) -> None:
        """The next n events are each delivered twice (same id, same body)."""
        with self._cond:
            self._duplicate_next += n

    def hold(self) -> None:
        """Keep new events back until `release`, to deliver them in another order."""
        with self._cond:
            if self._held is None:
                self._held = []

    def release(self, order: str = "as-is") -> int:
        """Send the held events: `as-is`, `reversed` or `shuffled` (seeded)."""
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}")
        with self._cond:
            held, self._held = self._held or [], None
            if order == "reversed":
                held.reverse()
            elif order == "shuffled":
                self._rng.shuffle(held)
            now = time.monotonic()
            for delivery in held:
                self._push(now, delivery)
            self._cond.notify_all()
            return len(held)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Until nothing is scheduled or in flight (held events do not count)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._scheduler.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    # --- machinery --------------------------------------------------------------------------

    def _on_change(self, change: str, records: list[dict[str, Any]]) -> None:
        """Runs under the store's lock: build the events and queue them, nothing more."""
        stamp = iso_ms(round(self.store.clock.timestamp() * 1000))
        with self._cond:
            for record in records:
                if change == "delete":
                    record = {**record, "updatedAt": stamp}
                event_id = str(uuid.UUID(int=self._rng.getrandbits(128)))
                event = {
                    "id": event_id,
                    "type": EVENT_TYPES[change],
                    "createdAt": stamp,
                    "data": record,
                }
                self.events.append(event)
                if self._drop_next:
                    self._drop_next -= 1
                    self.dropped.append(event_id)
                    continue
                copies = 1
                if self._duplicate_next:
                    self._duplicate_next -= 1
                    copies = 2
                for _ in range(copies):
                    delivery = _Delivery(event_id, orjson.dumps(event))
                    if self._held is not None:
                        self._held.append(delivery)
                    else:
                        self._push(time.monotonic(), delivery)
            self._cond.notify_all()

    def _push(self, at: float, delivery: _Delivery) -> None:
        heapq.heappush(self._heap, _Due(at, next(self._seq), delivery))

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                if self._heap and self._heap[0].at <= now:
                    due = heapq.heappop(self._heap)
                    self._in_flight += 1
                    self._pool.submit(self._attempt, due.delivery)
                    continue
                wait = self._heap[0].at - now if self._heap else 0.5
                self._cond.wait(min(wait, 0.5))

    def _headers(self, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.secret is not None:
            headers[self.header] = (
                hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
                if self.signature == "hmac-sha256"
                else self.secret
            )
        return headers

    def _attempt(self, delivery: _Delivery) -> None:
        ok = False
        try:
            answer = self._client.post(
                self.url, content=delivery.body, headers=self._headers(delivery.body)
            )
            ok = 200 <= answer.status_code < 300
        except httpx.HTTPError:
            ok = False
        with self._cond:
            self.attempts += 1
            delivery.attempt += 1
            if ok:
                self.delivered.append(delivery.event_id)
            elif delivery.attempt <= len(self.retry_delays):
                self._push(time.monotonic() + self.retry_delays[delivery.attempt - 1], delivery)
            else:
                self.dropped.append(delivery.event_id)
            self._in_flight -= 1
            self._cond.notify_all()
