"""What apptsync hands to readers: the published warehouse, dashboard feeds and the report.

Readers (analysts, BI tools, dashboards) never share a file with a running sync: they get
copies that are complete when they appear and replaced in one step.

This module publishes the warehouse copy. Why a copy: DuckDB lets one process write a file or
any number read it, never both. The sync owns the working warehouse for its whole run
(`pipelines.connection`); readers get `apptsync.publish_path` instead, a snapshot swapped in
atomically after each sync that changed something. A reader holding the old snapshot keeps
its consistent view until it reconnects, and never makes a sync fail or wait: the new file
is a new inode.

The steps, under the caller's hold of the working warehouse (so nothing writes meanwhile):
fingerprint the content and stop if the published copy has the same; checkpoint; byte-copy
the file to a temporary file beside the target; drop dlt's scratch schemas and store the
reporting views as tables in it; fsync; rename over the target; fsync the folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.config import ConfigError
from pipelines.connection import hold_warehouse
from pipelines.publish import snapshot
from pipelines.publish.contents import fingerprint, prepare_copy, published_fingerprint
from pipelines.redaction import get_logger
from pipelines.warehouse import database_path, publish_path

logger = get_logger("apptsync.publish")

PUBLISH_PATH_KEY = "apptsync.publish_path"


@dataclass(frozen=True)
class PublishResult:
    """What `publish` did: `published` is False when the copy was already current."""

    path: str
    published: bool
    seconds: float
    fingerprint: str
    materialized: int = 0
    steps: dict[str, float] = field(default_factory=dict)
    """Seconds per step (fingerprint, compare, checkpoint, copy, prepare, swap): for the
    benchmark and for `-v` logs."""

    def __str__(self) -> str:
        if not self.published:
            return f"publish: {self.path} is current (nothing changed since it was published)"
        return (
            f"publish: {self.path} in {self.seconds:.1f}s "
            f"({self.materialized} reporting models stored as tables)"
        )


def publish(*, force: bool = False) -> PublishResult:
    """Publish the working warehouse unless the published copy already has its content.

    Holds the working warehouse (waiting for it like every command) unless the caller
    already does, as `apptsync sync` does for its whole run."""
    clock = _Clock()
    with hold_warehouse() as con:
        assert con is not None  # a read-write hold always connects (or raises)
        target = Path(publish_path())
        if target == Path(database_path()):
            raise ConfigError(PUBLISH_PATH_KEY, "must name another file than the warehouse")
        current = fingerprint(con)
        clock.lap("fingerprint")
        unchanged = not force and current == _fingerprint_of(target)
        clock.lap("compare")
        if unchanged:
            return PublishResult(str(target), False, clock.total(), current, steps=clock.steps)
        materialized = _write(con, target, current, clock)
    logger.info("published %s in %.2f s (%s)", target, clock.total(), clock.steps)
    return PublishResult(str(target), True, clock.total(), current, materialized, clock.steps)


def _write(con: duckdb.DuckDBPyConnection, target: Path, fingerprint_: str, clock: _Clock) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    snapshot.remove_leftovers(target)
    working = Path(database_path())
    temporary = snapshot.temporary_path(target)
    con.execute("checkpoint")  # everything committed is in the file, the WAL is empty
    clock.lap("checkpoint")
    snapshot.copy_file(working, temporary)
    clock.lap("copy")
    try:
        with duckdb.connect(str(temporary)) as copy:
            materialized = prepare_copy(copy, fingerprint_, str(working))
            copy.execute("checkpoint")
        clock.lap("prepare")
        snapshot.swap_in(temporary, target)
        clock.lap("swap")
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return materialized


class _Clock:
    """Seconds per step, for PublishResult.steps."""

    def __init__(self) -> None:
        self.started = self._last = time.monotonic()
        self.steps: dict[str, float] = {}

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.steps[step] = round(now - self._last, 3)
        self._last = now

    def total(self) -> float:
        return time.monotonic() - self.started


def _fingerprint_of(target: Path) -> str | None:
    """The fingerprint recorded in the published copy; None when there is none or it cannot
    be read (a reader holding it read-write locks it): then it is published again."""
    if not target.exists():
        return None
    try:
        with duckdb.connect(str(target), read_only=True) as con:
            return published_fingerprint(con)
    except duckdb.Error as exc:
        logger.info("%s: cannot read its fingerprint (%s): publishing again", target, exc)
        return None
