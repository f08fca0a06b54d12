"""What one source's run did on the wire and in its scan, counted as it happens.

Why a context variable: the counters are incremented deep inside the HTTP client and the
scans (one line each), which know nothing of runs; `run_source` puts a fresh `RunMetrics`
in the context, and the run ledger and the progress display read it. Page threads do not
inherit a context, so the `ApiClient` captures the run's metrics when it is built and the
counters take a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class RunMetrics:
    """Counters of one source's run; every `add_*`/`set_*` is safe from any thread."""

    source: str
    requests: int = 0
    """HTTP requests sent for the appointments (retries included, logins and tokens not)."""
    retries: int = 0
    """Requests that failed and were tried again."""
    api_total: int | None = None
    """What the API reported for the scan (`meta.totalCount` / `paging.total`)."""
    ids_seen: int = 0
    """Distinct ids the scan read (of its last pass, for a scan that read again)."""
    records: int = 0
    """Records read from pages (of every pass)."""
    pages: int = 0
    """Pages read (of every pass)."""
    pass_pages: int = 0
    """Pages read since the current pass began."""
    pages_total: int | None = None
    """Pages the current pass needs, where the API's total tells it."""
    drift_passes: int = 0
    """Passes (or crowded seconds) read again because the collection shifted while paged."""
    full_scan: bool = False
    """Whether `api_total` counts exactly what the scan set out to read, so `ids_seen`
    must match it at the end."""
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_request(self) -> None:
        with self._lock:
            self.requests += 1

    def add_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def add_page(self, records: int) -> None:
        with self._lock:
            self.pages += 1
            self.pass_pages += 1
            self.records += records

    def set_total(self, total: int, page_size: int, *, full_scan: bool) -> None:
        """The API's count for the scan, and the pages a pass over it takes."""
        with self._lock:
            self.api_total = total
            self.full_scan = full_scan
            self.pages_total = max(1, -(-total // max(page_size, 1)))
            self.pass_pages = 0

    def set_ids_seen(self, ids: int) -> None:
        with self._lock:
            self.ids_seen = ids

    def add_drift_pass(self) -> None:
        with self._lock:
            self.drift_passes += 1

    def end_pass(self, ids: int, *, drifted: bool) -> None:
        """A pass over the collection ended: the ids it saw, and whether it is read again."""
        with self._lock:
            self.ids_seen = ids
            self.drift_passes += int(drifted)

    def note(self) -> str | None:
        """Says so when a full scan's distinct ids disagree with the API's own count."""
        if not self.full_scan or self.api_total is None or self.ids_seen == self.api_total:
            return None
        return (
            f"the scan saw {self.ids_seen} distinct ids, the API reported {self.api_total}"
            " (records without an id are quarantined, not counted as ids)"
        )


_current: ContextVar[RunMetrics | None] = ContextVar("apptsync_run_metrics", default=None)


class _Discard(RunMetrics):
    """Counters nobody reads: code outside a run (tests, benchmarks) counts into this."""


def current_metrics() -> RunMetrics:
    """The metrics of the run in progress, or a throwaway collector outside any run."""
    metrics = _current.get()
    return metrics if metrics is not None else _Discard("")


@contextmanager
def collecting(metrics: RunMetrics) -> Iterator[RunMetrics]:
    """Make `metrics` the current run's collector for the length of the block."""
    token = _current.set(metrics)
    try:
        yield metrics
    finally:
        _current.reset(token)
