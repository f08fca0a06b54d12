"""Shared assertions for end-to-end tests: read the warehouse the way an analyst would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from pipelines.sync import SyncResult


def rows(database: Path | str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of `sql` against the DuckDB file, opened read-only so tests never hold a lock."""
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def scalar(database: Path | str, sql: str, *params: Any) -> Any:
    return rows(database, sql, *params)[0][0]


def table_counts(database: Path | str, dataset: str) -> dict[str, int]:
    """Row count of every table of a dataset, dlt's own tables left out."""
    with duckdb.connect(str(database), read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = ? and table_name not like '_dlt%' order by 1",
                [dataset],
            ).fetchall()
        ]
        return {
            name: con.execute(f'select count(*) from "{dataset}"."{name}"').fetchone()[0]
            for name in names
        }


def assert_ok(result: SyncResult) -> SyncResult:
    assert result.ok, result.error
    return result
