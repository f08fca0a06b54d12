"""What the published copy holds, and how to tell whether it is still current.

The copy starts as a byte copy of the checkpointed working warehouse; then dlt's staging
datasets (merge scratch space, nothing an analyst reads) are dropped and the reporting
views become tables, so a dashboard query reads stored rows instead of re-running the
joins of every layer below. Staging and intermediate stay views over the raw tables, which
the copy holds too, so any query written against the working warehouse runs unchanged.
"""

from __future__ import annotations

import graphlib
import hashlib
import re
from collections.abc import Sequence

import duckdb

from pipelines.extract.resource import SCAN_TABLE
from pipelines.models.discovery import LAYERS

MATERIALIZED_SCHEMA = LAYERS[-1]
"""The reporting layer: its views are stored as tables in the copy."""

MARKER_SCHEMA, MARKER_TABLE = "ops", "published_snapshot"
"""Where the copy records when it was published and the fingerprint of what it holds."""

FORMAT_VERSION = "2"
"""Bumped when the copy's layout changes, so every warehouse is published again once
(2: the reporting tables keep their column comments)."""

DLT_STAGING_SUFFIX = "_staging"
DLT_LOADS = "_dlt_loads"

# Tables whose rows change on every run without any change in the data: dlt's own
# bookkeeping, the id list of the latest complete scan (rewritten by every Pexip run) and
# the operations schema (the run ledger gains a row per run). They are copied, as of the
# publish, but a change to them alone publishes nothing.
_VOLATILE_PREFIXES = ("_dlt",)
_VOLATILE_TABLES = (SCAN_TABLE,)
_VOLATILE_SCHEMAS = (MARKER_SCHEMA,)


def fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """A hash of everything the copy would show: each table's rows, each view's SQL.

    Why content and not the newest load id: a Pexip run loads its scan table every time,
    and marking deletions updates rows without a load of their own; the rows themselves
    change exactly when an analyst would see a difference. DuckDB hashes a column-store
    table of 100,000s of rows in well under a second."""
    digest = hashlib.sha256(FORMAT_VERSION.encode())
    for schema, table in _content_tables(con):
        row = con.execute(  # the table's alias stands for its whole row
            f'select count(*), bit_xor(hash(__whole_row)) from "{schema}"."{table}" as __whole_row'
        ).fetchone()
        digest.update(f"{schema}.{table}:{row}\n".encode())
    views = con.execute(
        "select schema_name, view_name, sql from duckdb_views() "
        "where not internal and database_name = current_database() order by 1, 2"
    ).fetchall()
    for schema, view, sql in views:
        if not schema.endswith(DLT_STAGING_SUFFIX):
            digest.update(f"{schema}.{view}:{sql}\n".encode())
    # the documentation readers see in their BI tool: a changed comment is a change to publish
    comments = con.execute(
        "select schema_name, table_name, column_name, comment from duckdb_columns() "
        "where comment is not null and database_name = current_database() order by 1, 2, 3"
    ).fetchall()
    for comment in comments:
        digest.update(f"comment {comment}\n".encode())
    return digest.hexdigest()


def _content_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    names = con.execute(
        "select schema_name, table_name from duckdb_tables() "
        "where not internal and database_name = current_database() order by 1, 2"
    ).fetchall()
    return [
        (schema, table)
        for schema, table in names
        if not schema.endswith(DLT_STAGING_SUFFIX)
        and schema not in _VOLATILE_SCHEMAS
        and not table.startswith(_VOLATILE_PREFIXES)
        and table not in _VOLATILE_TABLES
    ]


def prepare_copy(con: duckdb.DuckDBPyConnection, fingerprint_: str, working: str) -> int:
    """Turn a byte copy of the working warehouse into the published snapshot; returns the
    number of reporting models stored as tables."""
    _drop_dlt_staging(con)
    stored = materialize(con, _reporting_views(con))
    con.execute(f'create schema if not exists "{MARKER_SCHEMA}"')
    con.execute(
        f'create or replace table "{MARKER_SCHEMA}"."{MARKER_TABLE}" as '
        "select now() as published_at, ? as fingerprint, ? as working_warehouse",
        [fingerprint_, working],
    )
    return stored


def published_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    try:
        row = con.execute(f'select fingerprint from "{MARKER_SCHEMA}"."{MARKER_TABLE}"').fetchone()
    except duckdb.CatalogException:
        return None
    return str(row[0]) if row else None


def _drop_dlt_staging(con: duckdb.DuckDBPyConnection) -> None:
    """dlt's `<dataset>_staging` schemas: scratch space of its merges."""
    datasets = {
        schema
        for (schema,) in con.execute(
            "select schema_name from duckdb_tables() where table_name = ?", [DLT_LOADS]
        ).fetchall()
    }
    schemas = [s for (s,) in con.execute("select schema_name from duckdb_schemas()").fetchall()]
    for schema in schemas:
        if schema.endswith(DLT_STAGING_SUFFIX) and schema[: -len(DLT_STAGING_SUFFIX)] in datasets:
            con.execute(f'drop schema "{schema}" cascade')


def _reporting_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The reporting views, each after the reporting views it reads (so a rollup reads its
    fact's stored table, not the layers below again). DuckDB keeps no dependencies between
    views; the references are read from the view's SQL, which the model runner qualified."""
    sql_of = dict(
        con.execute(
            "select view_name, sql from duckdb_views() where schema_name = ? and not internal",
            [MATERIALIZED_SCHEMA],
        ).fetchall()
    )
    reads = {
        view: [
            other
            for other in sql_of
            if other != view
            and re.search(rf"\b{MATERIALIZED_SCHEMA}\.\"?{re.escape(other)}\b", sql, re.I)
        ]
        for view, sql in sql_of.items()
    }
    order = graphlib.TopologicalSorter(reads).static_order()
    # a view that reads the clock (an age) stays a view: stored, its age would stand still
    return [view for view in order if not _CLOCK.search(sql_of[view])]


_CLOCK = re.compile(r"\b(now|current_timestamp|current_date|get_current_timestamp)\b", re.I)


def materialize(con: duckdb.DuckDBPyConnection, views: Sequence[str]) -> int:
    """Store each view of the reporting schema as a table of the same name, its comment and
    its columns' comments kept (`create table as` carries neither). DuckDB does not track
    which views read a view, so the others keep working: they now read the table."""
    schema = MATERIALIZED_SCHEMA
    for view in views:
        comment = con.execute(
            "select comment from duckdb_views() where schema_name = ? and view_name = ?",
            [schema, view],
        ).fetchone()
        columns = con.execute(
            "select column_name, comment from duckdb_columns() where schema_name = ? "
            "and table_name = ? and comment is not null and database_name = current_database()",
            [schema, view],
        ).fetchall()
        scratch = f"__{view}__stored"
        con.execute(f'create table "{schema}"."{scratch}" as select * from "{schema}"."{view}"')
        con.execute(f'drop view "{schema}"."{view}"')
        con.execute(f'alter table "{schema}"."{scratch}" rename to "{view}"')
        if comment and comment[0]:
            con.execute(f'comment on table "{schema}"."{view}" is {_literal(comment[0])}')
        for column, text in columns:
            name = str(column).replace('"', '""')
            con.execute(f'comment on column "{schema}"."{view}"."{name}" is {_literal(text)}')
    return len(views)


def _literal(text: object) -> str:
    """A SQL string literal: COMMENT ON takes no parameters."""
    return "'" + str(text).replace("'", "''") + "'"
