"""Progress of a long sync: a live line on a terminal, a log line every ~10 s elsewhere.

Why driven by `RunMetrics`: the scans already count pages, records and the API's total for
the ledger; the display only samples those counters from its own thread, so the hot path
pays nothing for it. The live line is rich's `Progress` (pages read of the total, records,
rate, ETA); under cron or an orchestrator there is no terminal, so a plain log line says the
same every `apptsync.progress_seconds` (default 10).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import dlt
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pipelines.extract.metrics import RunMetrics
from pipelines.redaction import get_logger

logger = get_logger("apptsync.progress")

DEFAULT_LOG_SECONDS = 10.0
REFRESH_SECONDS = 0.25


def log_interval() -> float:
    """Seconds between progress log lines (`apptsync.progress_seconds`)."""
    configured: Any = dlt.config.get("apptsync.progress_seconds")
    return DEFAULT_LOG_SECONDS if configured is None else max(float(configured), 0.1)


def describe(metrics: RunMetrics) -> str:
    """`pexip_engage: page 120 of 400, 3,000 records, 250 records/s, ETA 12s`."""
    elapsed = max(time.monotonic() - metrics.started, 1e-6)
    rate = metrics.records / elapsed
    pages = f"page {metrics.pass_pages}"
    eta = ""
    if metrics.pages_total:
        pages += f" of {metrics.pages_total}"
        left = max(metrics.pages_total - metrics.pass_pages, 0)
        page_rate = metrics.pages / elapsed
        if page_rate > 0:
            eta = f", ETA {left / page_rate:.0f}s"
    return f"{metrics.source}: {pages}, {metrics.records:,} records, {rate:,.0f} records/s{eta}"


@contextmanager
def show_progress(metrics: RunMetrics, stream: IO[str] | None = None) -> Iterator[None]:
    """Show the run's progress for the length of the block, on `stream` (stderr)."""
    stream = stream or sys.stderr
    if stream.isatty():
        with _live_line(metrics, stream):
            yield
    else:
        with _log_lines(metrics, log_interval()):
            yield


def _sampler(every: float, sample: Callable[[], None]) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            sample()

    thread = threading.Thread(target=loop, name="apptsync-progress", daemon=True)
    thread.start()
    return thread, stop


@contextmanager
def _log_lines(metrics: RunMetrics, every: float) -> Iterator[None]:
    thread, stop = _sampler(every, lambda: logger.info("progress %s", describe(metrics)))
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextmanager
def _live_line(metrics: RunMetrics, stream: IO[str]) -> Iterator[None]:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("pages, {task.fields[records]:,} records, {task.fields[rate]:,.0f}/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=stream),
        transient=True,
    )
    task = progress.add_task(metrics.source, total=None, records=0, rate=0.0)

    def sample() -> None:
        elapsed = max(time.monotonic() - metrics.started, 1e-6)
        progress.update(
            task,
            completed=metrics.pass_pages,
            total=metrics.pages_total,
            records=metrics.records,
            rate=metrics.records / elapsed,
        )

    with progress, _logs_above(progress):
        thread, stop = _sampler(REFRESH_SECONDS, sample)
        try:
            yield
        finally:
            stop.set()
            thread.join()
            sample()  # the line's last state is drawn before it goes
            progress.refresh()


@contextmanager
def _logs_above(progress: Progress) -> Iterator[None]:
    """Log lines go through rich's console while the line is live, so they print above it
    instead of through it."""
    handlers = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and h.stream is sys.__stderr__
    ]
    proxy = sys.stderr  # rich's redirect while the display is live
    previous = [h.setStream(proxy) for h in handlers]
    try:
        yield
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            if stream is not None:
                handler.setStream(stream)
