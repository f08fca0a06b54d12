"""One DuckDB connection to the working warehouse for a whole command, waited for.

Why: DuckDB allows one writer process or any number of readers, never both, and the lock is
taken when a process opens the file. dlt opens and closes the file several times per source
run, so an analyst who connected between two of those opens made the next one fail
half-way through a sync. A command that opens the file once, up front, and hands that one
connection to dlt, the models and the publish step either gets the whole run or nothing: it
waits up to `apptsync.lock_wait_seconds` for another process to let go, then fails with one
line that names the holder, before anything was read from an API or written.

Inside `hold_warehouse()`, `pipelines.warehouse.warehouse_credentials()` returns credentials
around the held connection, so every dlt pipeline and SQL client of the command shares it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from pipelines.redaction import get_logger

logger = get_logger("apptsync.warehouse")

EXIT_LOCKED = 75
"""Exit code of a command that could not lock the warehouse in time (EX_TEMPFAIL: try later)."""

_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")
_FIRST_RETRY_SECONDS = 0.05
_MAX_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class LockHolder:
    """The process DuckDB names in its lock error."""

    pid: int
    program: str

    def __str__(self) -> str:
        return f"PID {self.pid} ({Path(self.program).name})"


class WarehouseLocked(Exception):
    """Another process held a DuckDB file for longer than the command was allowed to wait."""

    exit_code = EXIT_LOCKED

    def __init__(self, path: str, holder: LockHolder, waited: float) -> None:
        self.path, self.holder, self.waited = path, holder, waited
        super().__init__(
            f"could not lock the warehouse {path}: {holder} held it for more than {waited:g} s; "
            "nothing was written (wait longer with apptsync.lock_wait_seconds, "
            "APPTSYNC__LOCK_WAIT_SECONDS)"
        )


_held: duckdb.DuckDBPyConnection | None = None
"""The connection `hold_warehouse()` holds in this process, if any (process-wide on purpose:
DuckDB's lock is per process, and dlt's load threads must see the same connection)."""


def held_connection() -> duckdb.DuckDBPyConnection | None:
    """The working warehouse's connection while a command holds it, else None."""
    return _held


@contextmanager
def hold_warehouse(*, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """Hold the working warehouse for the body of the `with`.

    A read-only hold of a warehouse that does not exist yet holds nothing (yields None):
    `status` and `check` on a fresh checkout report an empty warehouse. Nested holds reuse
    the outer connection."""
    global _held
    from pipelines.warehouse import database_path, duckdb_config, lock_wait_seconds

    if _held is not None:
        yield _held
        return
    path = database_path()
    if read_only and not Path(path).exists():
        yield None
        return
    if not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # DuckDB's default configuration at connect, the settings after: another
    # `duckdb.connect(path)` in this process (the run ledger, a library caller) then shares
    # this database instance instead of failing on "a different configuration"
    try:
        _held = connect_waiting(path, read_only=read_only, config={}, wait=lock_wait_seconds())
    except duckdb.ConnectionException:
        if not read_only:
            raise
        # this process already has the file open read-write (a Python caller's own client):
        # DuckDB refuses a read-only instance beside it, so share that one
        _held = duckdb.connect(path)
    try:
        if not read_only:
            for key, value in duckdb_config().items():
                _held.execute(f"set global {key} = ?", [value])
        yield _held
    finally:
        connection, _held = _held, None
        connection.close()


def connect_waiting(
    path: str, *, read_only: bool, config: dict[str, Any], wait: float
) -> duckdb.DuckDBPyConnection:
    """`duckdb.connect`, retried while another process holds the file's lock, up to `wait`
    seconds; logs once who holds it. Raises `WarehouseLocked` past the wait."""
    deadline = time.monotonic() + wait
    delay, logged = _FIRST_RETRY_SECONDS, False
    while True:
        try:
            return duckdb.connect(path, read_only=read_only, config=config)
        except duckdb.IOException as exc:
            holder = lock_holder(exc)
            if holder is None:
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WarehouseLocked(path, holder, wait) from None
            if not logged:
                logger.warning("%s is held by %s: waiting up to %g s", path, holder, wait)
                logged = True
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, _MAX_RETRY_SECONDS)


def lock_holder(exc: BaseException) -> LockHolder | None:
    """The holder DuckDB names in a lock conflict, or None for any other error."""
    found = _HOLDER.search(str(exc))
    if found is None:
        return None
    return LockHolder(int(found["pid"]), found["program"])
