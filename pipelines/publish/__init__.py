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
from dataclasses import dataclass
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
    started = time.monotonic()
    with hold_warehouse() as con:
        assert con is not None  # a read-write hold always connects (or raises)
        target = Path(publish_path())
        if target == Path(database_path()):
            raise ConfigError(PUBLISH_PATH_KEY, "must name another file than the warehouse")
        current = fingerprint(con)
        if not force and current == _fingerprint_of(target):
            return PublishResult(str(target), False, time.monotonic() - started, current)
        materialized = _write(con, target, current)
    seconds = time.monotonic() - started
    logger.info("published %s in %.2f s", target, seconds)
    return PublishResult(str(target), True, seconds, current, materialized)


def _write(con: duckdb.DuckDBPyConnection, target: Path, fingerprint_: str) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    snapshot.remove_leftovers(target)
    working = Path(database_path())
    temporary = snapshot.temporary_path(target)
    con.execute("checkpoint")  # everything committed is in the file, the WAL is empty
    snapshot.copy_file(working, temporary)
    try:
        with duckdb.connect(str(temporary)) as copy:
            materialized = prepare_copy(copy, fingerprint_, str(working))
            copy.execute("checkpoint")
        snapshot.swap_in(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return materialized


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
