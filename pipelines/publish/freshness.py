"""How fresh each source is, and what its last runs did, from what the warehouse holds.

Why here: the feeds' manifest and the report's sync-health charts tell the same facts, so
they are read once. Two places know about runs:

- dlt's own `<dataset>._dlt_loads` (one row per load package, `status = 0` when complete),
  present as soon as a source synced once: the last load, and the loads as "runs";
- the run ledger `ops.sync_runs`, when this warehouse has it: every run, failed ones too,
  with their outcome. Its columns are looked up by name (`LEDGER_COLUMNS`), so the charts
  and the manifest light up as soon as the table exists, with no change here.

Quarantine counts come from `<dataset>._quarantine`, which dlt creates with the first
quarantined record (no table means none).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import duckdb

from pipelines.extract.flatten import QUARANTINE_TABLE
from pipelines.extract.resource import PARENT_TABLE
from pipelines.publish.reading import quote, records, relation_exists
from pipelines.sources import SOURCES

LEDGER = ("ops", "sync_runs")
"""The run ledger table, when the warehouse has one."""

LEDGER_COLUMNS: dict[str, tuple[str, ...]] = {
    "source": ("source", "source_name", "pipeline_name"),
    "at": ("finished_at", "ended_at", "started_at", "run_at"),
    "status": ("status", "outcome", "result", "state"),
    "ok": ("ok", "succeeded", "success"),
}
"""For each fact the report shows, the ledger column names that carry it (first one found)."""

LOAD_OK = 0
"""`_dlt_loads.status` of a complete load."""


@dataclass(frozen=True)
class SourceFreshness:
    """What the manifest and the report say about one source."""

    source: str
    last_load_at: str | None
    last_load_id: str | None
    loads: int
    newest_update_at: str | None
    quarantined: int
    last_run_at: str | None = None
    last_run_status: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Run:
    """One sync run of one source, from the ledger or (without one) a dlt load."""

    source: str
    at: str
    status: str
    origin: str
    """`ledger` or `dlt_loads`: where the run was read from."""


def has_ledger(con: duckdb.DuckDBPyConnection) -> bool:
    return relation_exists(con, *LEDGER)


def source_freshness(con: duckdb.DuckDBPyConnection) -> list[SourceFreshness]:
    """One entry per registered source, in registry order; a source never synced into this
    warehouse has no loads and null times."""
    ledger = _ledger_last_runs(con) if has_ledger(con) else {}
    result = []
    for name, entry in SOURCES.items():
        last_at, last_id, loads = _last_load(con, name)
        run = ledger.get(name)
        result.append(
            SourceFreshness(
                source=name,
                last_load_at=last_at,
                last_load_id=last_id,
                loads=loads,
                newest_update_at=_newest(con, name, entry.cursor_column),
                quarantined=quarantine_count(con, name),
                last_run_at=run.at if run else None,
                last_run_status=run.status if run else None,
            )
        )
    return result


def quarantine_count(con: duckdb.DuckDBPyConnection, dataset: str) -> int:
    if not relation_exists(con, dataset, QUARANTINE_TABLE):
        return 0
    row = con.execute(f"select count(*) from {quote(dataset, QUARANTINE_TABLE)}").fetchone()
    return int(row[0]) if row else 0


def quarantine_by_reason(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Quarantined records per source and reason (the reason's text up to its first colon,
    so 'unparsable date in updatedAt: x' and ': y' count together)."""
    rows: list[dict[str, Any]] = []
    for name in SOURCES:
        if relation_exists(con, name, QUARANTINE_TABLE):
            rows += records(
                con,
                "select ? as source, split_part(reason, ':', 1) as reason, count(*) as records "
                f"from {quote(name, QUARANTINE_TABLE)} group by all order by 2",
                [name],
            )
    return rows


def recent_runs(con: duckdb.DuckDBPyConnection, per_source: int = 20) -> list[Run]:
    """The last runs of each source: from the ledger when there is one, else dlt's loads."""
    runs = _ledger_runs(con) if has_ledger(con) else _load_runs(con)
    by_source: dict[str, list[Run]] = {}
    for run in sorted(runs, key=lambda r: r.at, reverse=True):
        by_source.setdefault(run.source, [])
        if len(by_source[run.source]) < per_source:
            by_source[run.source].append(run)
    return [run for name in by_source for run in reversed(by_source[name])]


def _last_load(con: duckdb.DuckDBPyConnection, dataset: str) -> tuple[str | None, str | None, int]:
    if not relation_exists(con, dataset, "_dlt_loads"):
        return None, None, 0
    row = con.execute(
        "select max(inserted_at), max(load_id), count(*) "
        f"from {quote(dataset, '_dlt_loads')} where status = ?",
        [LOAD_OK],
    ).fetchone()
    if not row:
        return None, None, 0
    return _iso(row[0]), row[1], int(row[2])


def _newest(con: duckdb.DuckDBPyConnection, dataset: str, cursor_column: str) -> str | None:
    """The newest cursor value (`updated_at`) landed: how current the data itself is."""
    if not relation_exists(con, dataset, PARENT_TABLE):
        return None
    row = con.execute(
        f"select max({quote(cursor_column)}) from {quote(dataset, PARENT_TABLE)}"
    ).fetchone()
    return _iso(row[0]) if row else None


def _load_runs(con: duckdb.DuckDBPyConnection) -> list[Run]:
    runs = []
    for name in SOURCES:
        if relation_exists(con, name, "_dlt_loads"):
            for at, status in con.execute(
                f"select inserted_at, status from {quote(name, '_dlt_loads')}"
            ).fetchall():
                state = "ok" if status == LOAD_OK else f"status {status}"
                runs.append(Run(name, _iso(at) or "", state, "dlt_loads"))
    return runs


def ledger_columns(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """fact -> the ledger's column that carries it, for the facts the ledger has."""
    present = {
        str(row[0]).lower(): str(row[0])
        for row in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            list(LEDGER),
        ).fetchall()
    }
    found = {}
    for fact, candidates in LEDGER_COLUMNS.items():
        for candidate in candidates:
            if candidate in present:
                found[fact] = present[candidate]
                break
    return found


def _ledger_runs(con: duckdb.DuckDBPyConnection) -> list[Run]:
    columns = ledger_columns(con)
    if "source" not in columns or "at" not in columns:
        return _load_runs(con)  # a ledger we cannot read: fall back, never fail the report
    status = _status_sql(columns)
    rows = con.execute(
        f"select {quote(columns['source'])}, {quote(columns['at'])}, {status} "
        f"from {quote(*LEDGER)} where {quote(columns['at'])} is not null"
    ).fetchall()
    return [Run(str(source), _iso(at) or "", str(state), "ledger") for source, at, state in rows]


def _ledger_last_runs(con: duckdb.DuckDBPyConnection) -> dict[str, Run]:
    last: dict[str, Run] = {}
    for run in sorted(_ledger_runs(con), key=lambda r: r.at):
        last[run.source] = run
    return last


def _status_sql(columns: dict[str, str]) -> str:
    if "status" in columns:
        return f"coalesce(cast({quote(columns['status'])} as varchar), 'unknown')"
    if "ok" in columns:
        return f"case when {quote(columns['ok'])} then 'ok' else 'failed' end"
    return "'unknown'"


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
