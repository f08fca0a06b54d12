"""Per-API request accounting: counts, a bounded log, in-flight requests and hooks.

Why: tests assert what a sync did on the wire (how many pages, which parameters, whether
it re-authenticated) and change data at an exact point of a sync (`after_request`), which
needs one place that numbers the appointments requests as they arrive.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("apptsync.simulator")

LOG_SIZE = 10_000


class Traffic:
    """Accounting for one API; the appointments endpoint is numbered 1, 2, 3, ..."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._in_flight = 0
        self._log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)
        self._hooks: dict[int, list[Callable[[], object]]] = {}

    def arrive(self, limit: int | None) -> tuple[int, bool]:
        """Number an appointments request; False when `limit` requests are already in flight.

        Rejected requests are counted (the API saw them) but not admitted to in-flight.
        """
        with self._lock:
            self._count += 1
            if limit is not None and self._in_flight >= limit:
                return self._count, False
            self._in_flight += 1
            return self._count, True

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def after(self, k: int, fn: Callable[[], object]) -> None:
        with self._lock:
            if k <= self._count:
                raise ValueError(f"request {k} already happened (count is {self._count})")
            self._hooks.setdefault(k, []).append(fn)

    def fire(self, k: int) -> None:
        """Run the hooks registered for request k; a failing hook is logged, not raised."""
        with self._lock:
            hooks = self._hooks.pop(k, [])
        for fn in hooks:
            try:
                fn()
            except Exception:
                logger.exception("after_request hook for request %d failed", k)

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._log.append(entry)

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._log)

    def reset(self) -> None:
        """Restart numbering and empty the log; pending hooks stay registered."""
        with self._lock:
            self._count = 0
            self._log.clear()
