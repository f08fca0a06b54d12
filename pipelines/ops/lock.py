"""One apptsync writer at a time: an OS-level lock on a file beside the warehouse.

Why `fcntl.flock`: the kernel holds the lock for the open file and drops it when the process
ends, however it ends, so a `kill -9` never leaves a stale lock behind and nothing has to
guess whether a PID in a file is still alive. The holder writes its PID, command and start
time into the file, only so that the process turned away can say who holds it.

The lock is re-entrant within a process: the command line takes it for a whole `sync` (every
source, then the models), and `run_source` takes it again for each source, so a Python
caller (an orchestrator) that never heard of the lock is still kept apart from cron.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pipelines.redaction import get_logger
from pipelines.warehouse import lock_path

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
    """`another apptsync sync is running (PID 1234, since 10:02:11)`, in local time."""
    command = holder.get("command") or "run"
    pid = holder.get("pid") or "unknown"
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
    file: IO[str]
    depth: int = 1


_held: dict[str, _Held] = {}
_guard = threading.Lock()


@contextmanager
def run_lock(command: str, *, wait: float = 0.0, path: str | None = None) -> Iterator[RunHandle]:
    """Hold the run lock for the block; raise `LockHeld` if another process keeps it longer
    than `wait` seconds. Taken again inside the same process, it yields the same run."""
    path = path or lock_path()
    with _guard:
        held = _held.get(path)
        if held is not None:
            held.depth += 1
    if held is None:
        held = _acquire(path, command, wait)
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
            _release(held)


def current_run() -> RunHandle | None:
    """The run this process holds the lock for, if any (one warehouse per process)."""
    with _guard:
        return next((held.handle for held in _held.values()), None)


def lock_holder(path: str | None = None) -> dict[str, Any] | None:
    """Who holds the lock now (PID, command, start), or None when nobody does.

    Read from the file without touching the lock (probing it could turn away a sync that
    starts at that instant); a record left by a killed holder names a PID that is gone."""
    path = path or lock_path()
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
        holder = json.loads(text) if text else None
    except (OSError, ValueError):
        return None
    if not isinstance(holder, dict) or not _alive(holder.get("pid")):
        return None
    return holder


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def _acquire(path: str, command: str, wait: float) -> _Held:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    file = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
    deadline = time.monotonic() + max(wait, 0.0)
    waiting = False
    while True:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _read_holder(file)
                file.close()
                raise LockHeld(holder, path) from None
            if not waiting:
                waiting = True
                logger.info("waiting up to %.0fs: %s", wait, describe_holder(_read_holder(file)))
            time.sleep(POLL_SECONDS)
    handle = RunHandle(uuid.uuid4().hex[:16], command, os.getpid(), datetime.now(UTC), path)
    file.seek(0)
    file.truncate()
    record = {"pid": handle.pid, "command": command, "started_at": handle.started_at.isoformat()}
    file.write(json.dumps({**record, "run_id": handle.run_id}) + "\n")
    file.flush()
    return _Held(handle, file)


def _release(held: _Held) -> None:
    """Empty the file first, so nobody reads a finished run as the holder."""
    try:
        held.file.seek(0)
        held.file.truncate()
        held.file.flush()
    finally:
        fcntl.flock(held.file, fcntl.LOCK_UN)
        held.file.close()


def _read_holder(file: IO[str]) -> dict[str, Any]:
    """The holder's record; it writes it right after locking, so wait a moment for it."""
    for _ in range(10):
        file.seek(0)
        text = file.read().strip()
        if text:
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                return parsed
        time.sleep(0.05)
    return {}
