"""The webhook spool: accepted events on disk until a committed load has them.

Why files and a lock: the receiver must acknowledge a delivery only once the event would
survive a crash, and must answer fast while a sync runs; the sync must take what arrived
without losing what arrives meanwhile. So the receiver appends one JSON line per event to
`active.jsonl` and fsyncs before it answers; a sync seals that file by renaming it into
`ready/` (under a short `flock`, so no append is cut in two) and reads sealed segments
only; after the load is committed they move to `done/` (kept `DONE_RETENTION_DAYS`).
Malformed deliveries are kept in `rejected/`, never dropped silently.

    <spool>/active.jsonl   appended by the receiver
    <spool>/ready/*.jsonl  sealed by a sync, read by it and every later sync until committed
    <spool>/done/*.jsonl   committed
    <spool>/rejected/      malformed deliveries (body and reason)
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from pipelines.redaction import get_logger

logger = get_logger("apptsync.webhooks")

ACTIVE = "active.jsonl"
READY = "ready"
DONE = "done"
REJECTED = "rejected"
LOCK = ".lock"
DONE_RETENTION_DAYS = 7


@dataclass(frozen=True)
class SpooledEvent:
    """One accepted delivery as spooled: event id, type, receipt time, the appointment."""

    event_id: str
    type: str
    received_at: str
    data: dict[str, Any]
    segment: str


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """One source's spool folder; safe for many threads and for one receiver and one sync
    process at a time."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._thread_lock = threading.Lock()

    def _ensure(self) -> None:
        for folder in (self.root, self.root / READY, self.root / DONE, self.root / REJECTED):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Excludes the other process (flock) and this process's other threads."""
        with self._thread_lock:
            self._ensure()
            fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the flock

    # --- the receiver's side ----------------------------------------------------------------

    def repair_tail(self) -> None:
        """A receiver killed mid-append leaves half a line (never acknowledged); end it, so
        the next event is not glued to it. Called when a receiver starts."""
        with self._locked():
            active = self.root / ACTIVE
            if not active.exists() or active.stat().st_size == 0:
                return
            with active.open("rb") as f:
                f.seek(-1, os.SEEK_END)
                last = f.read(1)
            if last != b"\n":
                logger.warning(
                    "ending a torn last line of %s (a receiver stopped mid-write)", active
                )
                self._append(b"\n")

    def append(self, event_id: str, event_type: str, data: dict[str, Any]) -> None:
        """Append one event and fsync it; only then may the delivery be acknowledged."""
        line = orjson.dumps(
            {"id": event_id, "type": event_type, "received_at": utc_stamp(), "data": data}
        )
        with self._locked():
            self._append(line + b"\n")

    def _append(self, data: bytes) -> None:
        active = self.root / ACTIVE
        created = not active.exists()
        fd = os.open(active, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(self.root)

    def reject(self, body: bytes, reason: str) -> Path:
        """Keep a malformed delivery for inspection: its body as received, and the reason."""
        self._ensure()
        name = f"{utc_stamp().replace(':', '')}-{uuid.uuid4().hex[:12]}"
        _write_durably(self.root / REJECTED / f"{name}.body", body)
        _write_durably(self.root / REJECTED / f"{name}.reason", reason.encode() + b"\n")
        _fsync_dir(self.root / REJECTED)
        return self.root / REJECTED / f"{name}.body"

    # --- the sync's side --------------------------------------------------------------------

    def claim(self) -> list[str]:
        """Seal the active segment (if any) and list every sealed segment, oldest first:
        those a previous sync read but never committed come along again."""
        with self._locked():
            active = self.root / ACTIVE
            if active.exists() and active.stat().st_size > 0:
                name = f"{utc_stamp().replace(':', '')}-{uuid.uuid4().hex[:8]}.jsonl"
                os.rename(active, self.root / READY / name)
                _fsync_dir(self.root / READY)
                _fsync_dir(self.root)
        return sorted(p.name for p in (self.root / READY).glob("*.jsonl"))

    def read(self, segments: list[str]) -> Iterator[SpooledEvent]:
        """The events of sealed segments in spool order. A line that does not parse was
        never acknowledged (a receiver killed mid-write): it is skipped, with a warning."""
        for segment in segments:
            path = self.root / READY / segment
            if not path.exists():
                continue
            with path.open("rb") as f:
                for number, line in enumerate(f, 1):
                    event = _parse_line(line, segment)
                    if event is None:
                        if line.strip():
                            logger.warning(
                                "skipped a torn line %d of spool segment %s", number, segment
                            )
                        continue
                    yield event

    def commit(self, segments: list[str]) -> int:
        """Move segments whose events a committed load holds to `done/`; prune old ones."""
        self._ensure()
        moved = 0
        for segment in segments:
            source = self.root / READY / segment
            if source.exists():
                os.replace(source, self.root / DONE / segment)
                moved += 1
        if moved:
            _fsync_dir(self.root / READY)
            _fsync_dir(self.root / DONE)
        self._prune_done()
        return moved

    def _prune_done(self) -> None:
        horizon = time.time() - DONE_RETENTION_DAYS * 86400
        for path in (self.root / DONE).glob("*.jsonl"):
            if path.stat().st_mtime < horizon:
                path.unlink(missing_ok=True)

    def pending_segments(self) -> list[str]:
        return sorted(p.name for p in (self.root / READY).glob("*.jsonl"))


def _parse_line(line: bytes, segment: str) -> SpooledEvent | None:
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), dict):
        return None
    return SpooledEvent(
        str(raw.get("id")), str(raw.get("type")), str(raw.get("received_at")), raw["data"], segment
    )
