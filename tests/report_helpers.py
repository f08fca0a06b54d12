"""Helpers for the feeds, report and docs tests: one small synced warehouse per test session.

The warehouse is built the way a user builds it: the real `apptsync sync` in a subprocess,
against the simulator over HTTP, with two malformed records planted so the quarantine has
rows. Tests that change data work on a copy (`copy_warehouse`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.config import env_name
from pipelines.simulator import Simulator
from pipelines.sources import SOURCES
from tests.cli_helpers import apptsync

SMALL_WAREHOUSE_N = 200
QUARANTINED_PEXIP = 2
"""Records of Pexip Engage made malformed before the sync (one without id, one bad date)."""

_built: dict[str, Path] = {}


def cli_env(folder: Path, database: Path, **extra: str) -> dict[str, str]:
    """The environment of a real `apptsync` run confined to `folder`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SOURCES__", "DESTINATION__", "APPTSYNC__", "RUNTIME__"))
    }
    env.update(
        DLT_DATA_DIR=str(folder / "dlt"),
        DESTINATION__DUCKDB__CREDENTIALS=str(database),
        RUNTIME__LOG_LEVEL="WARNING",
        RUNTIME__DLTHUB_TELEMETRY="false",
        APPTSYNC__PUBLISH_PATH=str(folder / "not-published.duckdb"),
    )
    env.update(extra)
    return env


def small_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's synced warehouse (built on first use). Treat it as read-only."""
    if "path" not in _built:
        folder = tmp_path_factory.mktemp("small-warehouse")
        database = folder / "warehouse.duckdb"
        with Simulator(appointments=SMALL_WAREHOUSE_N, seed=11) as sim:
            ids = sim.pexip.ids()
            sim.pexip.update([ids[0]], drop=("id",))
            sim.pexip.update([ids[1]], updatedAt="not-a-date")
            settings = {
                env_name(f"{entry.config_section}.{key}"): value
                for entry in SOURCES.values()
                for key, value in entry.simulator_settings(sim).items()
            }
            done = apptsync("sync", env=cli_env(folder, database, **settings), cwd=folder)
        assert done.returncode == 0, done.stdout + done.stderr
        _built["path"] = database
    return _built["path"]


def copy_warehouse(source: Path, target_folder: Path, name: str = "copy.duckdb") -> Path:
    """A private copy of a closed DuckDB file, for a test that changes data."""
    target = target_folder / name
    shutil.copyfile(source, target)
    return target


def count(database: Path, sql: str) -> int:
    with duckdb.connect(str(database), read_only=True) as con:
        row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def reporting_views(database: Path) -> dict[str, list[tuple[str, str]]]:
    """Every view of the `reporting` schema with its (column, type) list, from the catalog."""
    with duckdb.connect(str(database), read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'reporting' order by 1"
            ).fetchall()
        ]
        return {
            name: [
                (str(c[0]), str(c[1]))
                for c in con.execute(f'describe select * from reporting."{name}"').fetchall()
            ]
            for name in names
        }


def add_ledger(database: Path, runs: list[tuple[str, str, str]]) -> None:
    """Make the run ledger `ops.sync_runs` hold exactly these runs (source, finished_at,
    outcome). A ledger the sync wrote keeps its own columns (its other required columns get
    a zero, an empty text or the run's time); without one, a table of the ledger's core
    columns is created."""
    with duckdb.connect(str(database)) as con:
        con.execute("create schema if not exists ops")
        con.execute(
            "create table if not exists ops.sync_runs (run_id varchar, source varchar, "
            "started_at timestamptz, finished_at timestamptz, outcome varchar)"
        )
        con.execute("delete from ops.sync_runs")
        columns = con.execute(
            "select column_name, data_type, is_nullable from information_schema.columns "
            "where table_schema = 'ops' and table_name = 'sync_runs' order by ordinal_position"
        ).fetchall()
        for number, (source, finished_at, outcome) in enumerate(runs):
            given = {
                "run_id": f"run-{number}",
                "source": source,
                "started_at": finished_at,
                "finished_at": finished_at,
                "outcome": outcome,
            }
            values = [
                given.get(name, _filler(data_type, finished_at) if nullable == "NO" else None)
                for name, data_type, nullable in columns
            ]
            marks = ", ".join("?" for _ in columns)
            con.execute(f"insert into ops.sync_runs values ({marks})", values)


def _filler(data_type: str, at: str) -> object:
    if "TIMESTAMP" in data_type:
        return at
    if data_type in ("VARCHAR", "TEXT"):
        return ""
    return 0


def has_ledger(database: Path) -> bool:
    """Whether the sync wrote a run ledger into this warehouse."""
    return bool(
        count(
            database,
            "select count(*) from information_schema.tables "
            "where table_schema = 'ops' and table_name = 'sync_runs'",
        )
    )
