"""Which warehouse file a reader (feeds, report) opens, and opening it read-only.

Why: readers must never hold the working warehouse longer than they need nor ever write to
it. The published copy (`pipelines.warehouse.publish_path()`) is theirs when it exists;
before the first publish they fall back to the working file, read-only, so `apptsync report`
works on a fresh checkout too. `--database PATH` overrides both.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from pipelines.warehouse import WarehouseMissing, database_path, publish_path


class ReaderError(Exception):
    """The warehouse a reader wants cannot be opened or lacks what it needs."""


def reader_database(override: str | Path | None = None) -> Path:
    """The file to read: `override`, else the published copy if it exists, else the working
    warehouse. A missing file is an error naming it (exit 2), never a new empty database."""
    if override is not None:
        chosen = Path(override).resolve()
    else:
        published = Path(publish_path())
        chosen = published if published.exists() else Path(database_path())
    if not chosen.exists():
        raise WarehouseMissing(f"no warehouse at {chosen} — run `apptsync sync` first")
    return chosen


@contextmanager
def open_reader(database: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection in one transaction, so every query sees the same snapshot."""
    try:
        con = duckdb.connect(str(database), read_only=True)
    except duckdb.IOException as ex:  # e.g. a sync holds the working file
        raise ReaderError(f"cannot open {database} read-only: {ex}") from ex
    try:
        con.execute("set TimeZone = 'UTC'")  # times in the feeds and the report are UTC
        con.execute("begin transaction")
        yield con
    finally:
        con.close()


def relation_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    """Whether `schema.name` is a table or view in the open database."""
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(row and row[0])


def quote(*parts: str) -> str:
    """`"schema"."name"` with embedded quotes doubled."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


def records(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    """The rows of `sql` as dicts keyed by column name."""
    cursor = con.execute(sql, list(params))
    names = [column[0] for column in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
