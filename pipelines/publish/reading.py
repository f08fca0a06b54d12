"""Which warehouse a reader (feeds, report) opens, and opening it read-only.

Why: readers must never hold the working warehouse longer than they need nor ever write to
it. The published copy (`pipelines.warehouse.publish_path()`) is theirs when it exists;
before the first publish they fall back to the working file, read-only, so `apptsync report`
works on a fresh checkout too. `--database PATH` overrides both.

A warehouse on a server (Postgres) has no published copy: a reader copies what it reads
(the reporting models, the ledger, each source's loads, quarantine and cursor column) in
one repeatable-read transaction into an in-memory DuckDB, so the feeds' and the report's
queries, written for DuckDB, run unchanged and all see the same moment.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from pipelines.destinations import Connection, configured_destination
from pipelines.warehouse import WarehouseMissing, database_path, publish_path

REPORTING_SCHEMA = "reporting"
LEDGER = ("ops", "sync_runs")


class ReaderError(Exception):
    """The warehouse a reader wants cannot be opened or lacks what it needs."""


def reader_database(override: str | Path | None = None) -> Path | str:
    """The file to read: `override`, else the published copy if it exists, else the working
    warehouse. A missing file is an error naming it (exit 2), never a new empty database.
    A warehouse on a server is named by its location (a URL without its password)."""
    if override is None and configured_destination().duckdb_file() is None:
        from pipelines.warehouse import require_warehouse

        return require_warehouse()
    if override is not None:
        chosen = Path(override).resolve()
    else:
        published = Path(publish_path())
        chosen = published if published.exists() else Path(database_path())
    if not chosen.exists():
        raise WarehouseMissing(f"no warehouse at {chosen} — run `apptsync sync` first")
    return chosen


@contextmanager
def open_reader(database: Path | str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection in one transaction, so every query sees the same snapshot: to
    the DuckDB file `database`, or (a server's location) to an in-memory copy of it."""
    if not isinstance(database, Path):
        con = server_snapshot()
    else:
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


def server_snapshot() -> duckdb.DuckDBPyConnection:
    """What the readers read of the configured server, copied into an in-memory DuckDB."""
    from pipelines.sources import SOURCES

    copy = duckdb.connect()
    with configured_destination().connect() as server, server.consistent():
        present = set(server.rows("select table_schema, table_name from information_schema.tables"))
        wanted: dict[tuple[str, str], str] = {
            relation: "*" for relation in present if relation[0] == REPORTING_SCHEMA
        }
        wanted[LEDGER] = "*"
        for name, entry in SOURCES.items():
            wanted[(name, "_dlt_loads")] = "*"
            wanted[(name, "_quarantine")] = "*"
            wanted[(name, "appointments")] = quote(entry.cursor_column)
        for relation, columns in sorted(wanted.items()):
            if relation in present:
                _copy_relation(server, copy, relation, columns)
    return copy


def _copy_relation(
    server: Connection, copy: duckdb.DuckDBPyConnection, relation: tuple[str, str], columns: str
) -> None:
    table = server.arrow(f"select {columns} from {quote(*relation)}")
    copy.execute(f"create schema if not exists {quote(relation[0])}")
    copy.register("copied", table)
    copy.execute(f"create table {quote(*relation)} as select * from copied")
    copy.unregister("copied")


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
