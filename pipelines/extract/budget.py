"""The request budget all page threads share: requests per minute, requests in flight.

Why: Pexip Engage documents 3,000 requests per minute and 4 concurrent requests per IP. A
large sync that only retried the 429s it provoked would hit the limit over and over (a 429
storm); staying under it costs nothing. The per-minute limit is a sliding window from
pyrate-limiter (thread-safe, blocking, a well-kept library) rather than a hand-made token
bucket: a bucket refilled at 50/s with a burst of 3,000 can spend 6,000 in a minute, a
sliding window never more than 3,000. A server's `Retry-After` still wins: it pauses every
thread, not only the request that got it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from pyrate_limiter import Duration, Limiter, Rate

_PERMIT = "request"


class RequestBudget:
    """At most `per_minute` requests started in any minute and `concurrency` on the wire at
    once (either may be None: unlimited); `pause` holds every thread back for a while."""

    def __init__(self, per_minute: int | None = None, concurrency: int | None = None) -> None:
        self.per_minute = per_minute
        self.concurrency = concurrency
        self._limiter = Limiter(Rate(per_minute, Duration.MINUTE)) if per_minute else None
        self._in_flight = threading.BoundedSemaphore(concurrency) if concurrency else None
        self._lock = threading.Lock()
        self._resume_at = 0.0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """One place on the wire for one request: waits for a free place, for the end of
        any pause, and for the per-minute window to admit one more request."""
        with self._in_flight if self._in_flight is not None else contextlib.nullcontext():
            self._wait_for_resume()
            self.acquire()
            yield

    def acquire(self, blocking: bool = True) -> bool:
        """Take one request from the per-minute window (waiting for it if `blocking`);
        False only when not blocking and the window is full."""
        if self._limiter is None:
            return True
        return bool(self._limiter.try_acquire(_PERMIT, blocking=blocking))

    def pause(self, seconds: float) -> None:
        """No request starts for `seconds` from now (a server's `Retry-After`)."""
        with self._lock:
            self._resume_at = max(self._resume_at, time.monotonic() + seconds)

    def close(self) -> None:
        if self._limiter is not None:
            self._limiter.close()

    def _wait_for_resume(self) -> None:
        while True:
            with self._lock:
                wait = self._resume_at - time.monotonic()
            if wait <= 0:
                return
            time.sleep(wait)
