"""Shared assertions for end-to-end tests: read the warehouse the way an analyst would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.config import env_name
from pipelines.load.pipeline import SyncResult
from pipelines.simulator import Simulator
from pipelines.sources import get_source

Target = Path | str
"""Where a test's warehouse is: a DuckDB file, or a Postgres URL (the `target` fixture)."""


def is_server(database: Target) -> bool:
    return str(database).startswith(("postgresql://", "postgres://"))


def duckdb_file(database: Target) -> str | None:
    """The DuckDB file to hand a `database=` parameter; None (the configured one) for a server."""
    return None if is_server(database) else str(database)


def rows(database: Target, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of `sql` (`?` placeholders) against the DuckDB file, opened read-only so tests
    never hold a lock, or against the Postgres database."""
    if is_server(database):
        import psycopg2

        with psycopg2.connect(str(database)) as con, con.cursor() as cur:
            cur.execute(sql.replace("%", "%%").replace("?", "%s"), params)
            found = [tuple(r) for r in cur.fetchall()]
        con.close()
        return found
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def execute(database: Target, sql: str, *params: Any) -> None:
    """Change the warehouse behind apptsync's back (a planted violation, a dropped table)."""
    if is_server(database):
        import psycopg2

        with psycopg2.connect(str(database)) as con, con.cursor() as cur:
            cur.execute(sql.replace("%", "%%").replace("?", "%s"), params)
        con.close()
        return
    with duckdb.connect(str(database)) as con:
        con.execute(sql, list(params))


def scalar(database: Target, sql: str, *params: Any) -> Any:
    return rows(database, sql, *params)[0][0]


def table_counts(database: Target, dataset: str) -> dict[str, int]:
    """Row count of every table of a dataset, dlt's own tables left out."""
    names = [
        r[0]
        for r in rows(
            database,
            "select table_name from information_schema.tables "
            "where table_schema = ? and table_name not like '_dlt%' order by 1",
            dataset,
        )
    ]
    return {name: scalar(database, f'select count(*) from "{dataset}"."{name}"') for name in names}


def assert_ok(result: SyncResult) -> SyncResult:
    assert result.ok, result.error
    return result


# Small pages and no waits, so a test pages several times and never sleeps for long.
TEST_SETTINGS = {"page_size": "25", "lag_seconds": "0", "backoff_seconds": "0.01"}


def configure_source(
    name: str, sim: Simulator, monkeypatch: pytest.MonkeyPatch, **extra: object
) -> None:
    """Point a registered source at the simulator through config, as a user would."""
    entry = get_source(name)
    settings = {**entry.simulator_settings(sim), **TEST_SETTINGS, **extra}
    for key, value in settings.items():
        monkeypatch.setenv(env_name(f"{entry.config_section}.{key}"), str(value))


def configure_pexip(sim: Simulator, monkeypatch: pytest.MonkeyPatch, **extra: object) -> None:
    configure_source("pexip_engage", sim, monkeypatch, **extra)


def configure_valomnia(sim: Simulator, monkeypatch: pytest.MonkeyPatch, **extra: object) -> None:
    configure_source("valomnia", sim, monkeypatch, **extra)
