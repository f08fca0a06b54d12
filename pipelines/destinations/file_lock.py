"""The run lock of a warehouse file: `fcntl.flock` on a file beside it.

Why `flock`: the kernel holds the lock for the open file and drops it when the process ends,
however it ends, so a `kill -9` never leaves a stale lock behind and nothing has to guess
whether a PID in a file is still alive. The holder writes its PID, command and start time
into the file, only so that the process turned away can say who holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import IO, Any

from pipelines.destinations.base import LockBackend


class FileLock(LockBackend):
    def __init__(self, path: str) -> None:
        self.key = path
        self._file: IO[str] | None = None

    def try_acquire(self, record: dict[str, Any]) -> bool:
        Path(self.key).parent.mkdir(parents=True, exist_ok=True)
        file = open(self.key, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return False
        file.seek(0)
        file.truncate()
        file.write(json.dumps(record) + "\n")
        file.flush()
        self._file = file
        return True

    def release(self) -> None:
        """Empty the file first, so nobody reads a finished run as the holder."""
        file, self._file = self._file, None
        if file is None:
            return
        try:
            file.seek(0)
            file.truncate()
            file.flush()
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)
            file.close()

    def holder(self, *, turned_away: bool = False) -> dict[str, Any] | None:
        """Read from the file without touching the lock (probing it could turn away a sync
        that starts at that instant); a record left by a killed holder names a PID that is
        gone. A process just turned away waits a moment for the record: the holder writes
        it right after locking."""
        for _ in range(10 if turned_away else 1):
            try:
                text = Path(self.key).read_text(encoding="utf-8").strip()
            except OSError:
                return None
            if text:
                try:
                    holder = json.loads(text)
                except ValueError:
                    holder = None
                if isinstance(holder, dict):
                    return holder if turned_away or _alive(holder.get("pid")) else None
            if turned_away:
                time.sleep(0.05)
        return {} if turned_away else None


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True
