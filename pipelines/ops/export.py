"""`apptsync export`: one view or table of the warehouse to a file, or to standard output.

Why DuckDB's own `COPY`: it streams any size in the warehouse's types, and writes CSV,
Parquet and JSON natively. The format follows the file's suffix unless `--format` says;
anything else is refused rather than silently written as CSV. A warehouse on a server
(Postgres) is read into an in-memory DuckDB table first (through Arrow, in the server's
types), so every destination writes the same files.
"""

from __future__ import annotations

import difflib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.destinations import Connection, configured_destination
from pipelines.destinations.duckdb import DuckDbConnection

FORMATS = ("csv", "parquet", "json", "ndjson")
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".json": "json", ".ndjson": "ndjson"}
STDOUT = "-"


class ExportError(ValueError):
    """The relation or the format cannot be exported; the message says what to change."""


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def sql(self) -> str:
        return '"' + self.schema.replace('"', '""') + '"."' + self.name.replace('"', '""') + '"'


def export_format(output: str, requested: str | None) -> str:
    """The format to write: `requested`, else the output's suffix; stdout defaults to CSV."""
    if requested:
        if requested not in FORMATS:
            raise ExportError(f"unknown export format '{requested}' ({', '.join(FORMATS)})")
        return requested
    if output == STDOUT:
        return "csv"
    suffix = Path(output).suffix.lower()
    if suffix not in SUFFIXES:
        known = ", ".join(SUFFIXES)
        raise ExportError(
            f"cannot tell the format of '{output}' from its suffix (use {known} or --format)"
        )
    return SUFFIXES[suffix]


def resolve_relation(con: Connection, wanted: str) -> Relation:
    """`schema.name`, or a bare name that only one schema has; otherwise an error that
    lists the close matches."""
    rows = con.rows(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema not like '%\\_staging' escape '\\' "
        "and table_schema not in ('information_schema', 'pg_catalog')"
    )
    relations = [Relation(schema, name) for schema, name in rows]
    text = wanted.strip()
    if "." in text:
        schema, name = text.split(".", 1)
        matches = [r for r in relations if (r.schema, r.name) == (schema, name)]
    else:
        matches = [r for r in relations if r.name == text]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join(sorted(str(r) for r in matches))
        raise ExportError(f"'{wanted}' names more than one relation ({names}): use schema.name")
    candidates = sorted({str(r) if "." in text else r.name for r in relations})
    close = difflib.get_close_matches(text, candidates, n=3, cutoff=0.9)
    qualified = sorted({str(r) for r in relations if str(r) in close or r.name in close})
    hint = f"; did you mean {' or '.join(qualified)}?" if qualified else ""
    raise ExportError(f"no relation '{wanted}' in the warehouse{hint}")


def _select(con: duckdb.DuckDBPyConnection, relation: Relation, fmt: str) -> str:
    """CSV has no types: timestamps as ISO-8601 text, lists and structs as JSON."""
    if fmt != "csv":
        return f"select * from {relation.sql}"
    columns = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [relation.schema, relation.name],
    ).fetchall()
    exprs = []
    for name, data_type in columns:
        quoted = '"' + name.replace('"', '""') + '"'
        kind = data_type.upper()
        if kind.startswith("TIMESTAMP WITH TIME ZONE"):
            exprs.append(f"strftime({quoted}, '%Y-%m-%dT%H:%M:%S.%f%z') as {quoted}")
        elif kind.startswith("TIMESTAMP"):
            exprs.append(f"strftime({quoted}, '%Y-%m-%dT%H:%M:%S.%f') as {quoted}")
        elif kind.endswith("[]") or kind.startswith(("STRUCT", "MAP")):
            exprs.append(f"to_json({quoted}) as {quoted}")
        else:
            exprs.append(quoted)
    return f"select {', '.join(exprs) or '*'} from {relation.sql}"


_COPY_OPTIONS = {
    "csv": "(format csv, header true)",
    "parquet": "(format parquet)",
    "json": "(format json, array true)",
    "ndjson": "(format json)",
}


def export_relation(
    database: str | None, wanted: str, output: str, file_format: str | None = None
) -> tuple[Relation, int]:
    """Write `wanted` to `output` (a path, or `-` for standard output); returns the
    relation and its row count. A file is written beside its target and then renamed, so
    a reader never sees half an export. `database` is a DuckDB file; None: the configured
    warehouse."""
    fmt = export_format(output, file_format)
    destination = configured_destination()
    database = database or destination.duckdb_file()
    if database is None:
        with destination.connect() as server:
            relation = resolve_relation(server, wanted)
            table = server.arrow(f"select * from {relation.sql}")
        con = duckdb.connect()
        con.execute(f'create schema "{relation.schema.replace(chr(34), chr(34) * 2)}"')
        con.register("exported", table)
        con.execute(f"create table {relation.sql} as select * from exported")
    else:
        con = duckdb.connect(database, read_only=True)
        relation = resolve_relation(DuckDbConnection(con), wanted)
    with con:
        con.execute("set TimeZone = 'UTC'")
        select = _select(con, relation, fmt)
        if output == STDOUT:
            count = _copy_to_stdout(con, select, fmt)
        else:
            count = _copy_to_file(con, select, fmt, Path(output))
    return relation, count


def _copy(con: duckdb.DuckDBPyConnection, select: str, fmt: str, target: Path) -> int:
    path = str(target).replace("'", "''")
    row = con.execute(f"copy ({select}) to '{path}' {_COPY_OPTIONS[fmt]}").fetchone()
    return int(row[0]) if row else 0


def _copy_to_file(con: duckdb.DuckDBPyConnection, select: str, fmt: str, output: Path) -> int:
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    os.close(fd)
    try:
        count = _copy(con, select, fmt, Path(temporary))
        os.replace(temporary, output)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return count


def _copy_to_stdout(con: duckdb.DuckDBPyConnection, select: str, fmt: str) -> int:
    """DuckDB writes files, not streams: copy into a temporary file, then stream it."""
    with tempfile.TemporaryDirectory(prefix="apptsync-export-") as folder:
        target = Path(folder) / f"out.{fmt}"
        count = _copy(con, select, fmt, target)
        sys.stdout.flush()
        with target.open("rb") as source:
            shutil.copyfileobj(source, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    return count
