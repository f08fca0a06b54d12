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
