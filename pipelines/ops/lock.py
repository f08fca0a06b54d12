"""One apptsync writer per warehouse: the run lock.

Where the lock lives is the destination's (`Destination.run_lock()`): for a DuckDB file an
OS-level `flock` on a file beside it, for a server a lock the server holds for the run's
session (Postgres: an advisory lock), so runs on two machines collide too. Either way the
lock goes when the process ends, however it ends: a `kill -9` never leaves a stale lock.

The lock is re-entrant within a process: the command line takes it for a whole `sync` (every
source, then the models), and `run_source` takes it again for each source, so a Python
caller (an orchestrator) that never heard of the lock is still kept apart from cron.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipelines.destinations import configured_destination
from pipelines.destinations.base import LockBackend
from pipelines.redaction import get_logger

logger = get_logger("apptsync.lock")

POLL_SECONDS = 0.2


@dataclass(frozen=True)
class RunHandle:
    """The run that holds the lock: one `run_id` for every source a command syncs."""

    run_id: str
    command: str
    pid: int
    started_at: datetime
    path: str


class LockHeld(RuntimeError):
    """Another process holds the run lock (and did not let go within the wait)."""

    def __init__(self, holder: dict[str, Any], path: str) -> None:
        self.holder = holder
        self.path = path
        super().__init__(describe_holder(holder))


def describe_holder(holder: dict[str, Any]) -> str:
    """`another apptsync sync is running (PID 1234, since 10:02:11)`, in local time; a
    holder on another machine is `PID 1234 on host`."""
    command = holder.get("command") or "run"
    pid = holder.get("pid") or "unknown"
    if holder.get("host"):
        pid = f"{pid} on {holder['host']}"
    since = ""
    if holder.get("started_at"):
        started = datetime.fromisoformat(str(holder["started_at"])).astimezone()
        today = datetime.now().astimezone().date()
        since = started.strftime("%H:%M:%S" if started.date() == today else "%Y-%m-%d %H:%M:%S")
    return f"another apptsync {command} is running (PID {pid}" + (
        f", since {since})" if since else ")"
    )


@dataclass
class _Held:
    handle: RunHandle
    backend: LockBackend
    depth: int = 1


_held: dict[str, _Held] = {}
_guard = threading.Lock()


@contextmanager
def run_lock(command: str, *, wait: float = 0.0, path: str | None = None) -> Iterator[RunHandle]:
    """Hold the run lock for the block; raise `LockHeld` if another process keeps it longer
    than `wait` seconds. Taken again inside the same process, it yields the same run."""
    backend = _backend(path)
    path = backend.key
    with _guard:
        held = _held.get(path)
        if held is not None:
            held.depth += 1
    if held is None:
        held = _acquire(backend, command, wait)
        with _guard:
            _held[path] = held
    try:
        yield held.handle
    finally:
        with _guard:
            held.depth -= 1
            done = held.depth == 0
            if done:
                del _held[path]
        if done:
            held.backend.release()


def current_run() -> RunHandle | None:
    """The run this process holds the lock for, if any (one warehouse per process)."""
    with _guard:
        return next((held.handle for held in _held.values()), None)


def lock_holder(path: str | None = None) -> dict[str, Any] | None:
    """Who holds the lock now (PID, command, start), or None when nobody does."""
    return _backend(path).holder()


def _backend(path: str | None) -> LockBackend:
    """The configured warehouse's lock, or a lock file at `path` (tests, callers in Python)."""
    if path is not None:
        from pipelines.destinations.file_lock import FileLock

        return FileLock(path)
    return configured_destination().run_lock()


def _acquire(backend: LockBackend, command: str, wait: float) -> _Held:
    deadline = time.monotonic() + max(wait, 0.0)
    waiting = False
    run_id = uuid.uuid4().hex[:16]
    while True:
        handle = RunHandle(run_id, command, os.getpid(), datetime.now(UTC), backend.key)
        record = {"pid": handle.pid, "command": command}
        record["started_at"] = handle.started_at.isoformat()
        if backend.try_acquire({**record, "run_id": run_id}):
            return _Held(handle, backend)
        if time.monotonic() >= deadline:
            raise LockHeld(backend.holder(turned_away=True) or {}, backend.key)
        if not waiting:
            waiting = True
            holder = backend.holder(turned_away=True) or {}
            logger.info("waiting up to %.0fs: %s", wait, describe_holder(holder))
        time.sleep(POLL_SECONDS)
