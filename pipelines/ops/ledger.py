"""The run ledger: `ops.sync_runs`, one row per source per run, in the working warehouse.

Why in the warehouse: every run proves its own completeness where the data is — what the
API reported, the distinct ids the scan saw, what landed, what was quarantined, how many
requests and retries it took — so a dashboard (`reporting.rpt_sync_health`) can show
"last good sync 14 minutes ago" and `apptsync check --max-age` can fail when a source
silently stopped. Failed runs are written too (configuration errors included), whenever
the warehouse is writable; a ledger that cannot be written never fails the sync itself.

Plain SQL on purpose, the same on every destination (`pipelines.destinations`): the table is
apptsync's own, not a dlt resource, so it needs no pipeline, no schema and no load package,
and it survives a `dlt pipeline drop`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.destinations import Connection, MissingRelation, configured_destination
from pipelines.destinations.duckdb import DuckDbDestination
from pipelines.extract.metrics import RunMetrics
from pipelines.ops.lock import RunHandle
from pipelines.redaction import get_logger, redactor

if TYPE_CHECKING:
    from pipelines.load.pipeline import SyncResult

logger = get_logger("apptsync.ledger")

SCHEMA = "ops"
TABLE = "sync_runs"
QUALIFIED = f"{SCHEMA}.{TABLE}"


@dataclass
class LedgerRow:
    """One source's run, as `ops.sync_runs` stores it (field order = column order)."""

    run_id: str
    source: str
    started_at: datetime
    finished_at: datetime
    outcome: str  # "ok" or "failed"
    rows_loaded: int | None
    api_total: int | None
    ids_seen: int | None
    quarantined: int | None
    marked_deleted: int | None
    stale_child_rows_removed: int | None
    requests: int
    retries: int
    drift_passes: int
    seconds: float
    cursor_before: str | None
    cursor_after: str | None
    error: str | None
    note: str | None
    command: str
    pid: int


COLUMN_TYPES: Mapping[str, str] = {
    "run_id": "varchar not null",
    "source": "varchar not null",
    "started_at": "timestamp with time zone not null",
    "finished_at": "timestamp with time zone not null",
    "outcome": "varchar not null",
    "rows_loaded": "bigint",
    "api_total": "bigint",
    "ids_seen": "bigint",
    "quarantined": "bigint",
    "marked_deleted": "bigint",
    "stale_child_rows_removed": "bigint",
    "requests": "bigint",
    "retries": "bigint",
    "drift_passes": "bigint",
    "seconds": "double precision",
    "cursor_before": "varchar",
    "cursor_after": "varchar",
    "error": "varchar",
    "note": "varchar",
    "command": "varchar",
    "pid": "integer",
}
"""The ledger's columns and their types (the same in DuckDB and Postgres); checked against
`LedgerRow` by a test."""


def now() -> datetime:
    return datetime.now(UTC)


def row_for(
    run: RunHandle,
    result: SyncResult,
    metrics: RunMetrics,
    started_at: datetime,
    cursor_before: Any,
    cursor_after: Any,
) -> LedgerRow:
    """The ledger row of a finished source run: its result, and what its metrics counted.

    A failed run landed nothing, whatever dlt's last trace says; the scan's counters are
    kept (how far it got is what an operator wants to know)."""
    ok = result.ok
    return LedgerRow(
        run_id=run.run_id,
        source=result.source,
        started_at=started_at,
        finished_at=now(),
        outcome="ok" if ok else "failed",
        rows_loaded=result.rows.get("appointments", 0) if ok else 0,
        api_total=metrics.api_total,
        ids_seen=metrics.ids_seen if metrics.api_total is not None else None,
        quarantined=result.rows.get("_quarantine", 0) if ok else 0,
        marked_deleted=result.marked_deleted,
        stale_child_rows_removed=result.stale_child_rows_removed,
        requests=metrics.requests,
        retries=metrics.retries,
        drift_passes=metrics.drift_passes,
        seconds=round(result.seconds, 3),
        cursor_before=_text(cursor_before),
        cursor_after=_text(cursor_after),
        error=result.error,
        note=metrics.note() if ok else None,
        command=run.command,
        pid=run.pid,
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def ensure_table(con: Connection) -> None:
    """Create the schema and table, and add columns a newer apptsync knows (idempotent)."""
    con.execute(f"create schema if not exists {SCHEMA}")
    columns = ",\n    ".join(f"{name} {kind}" for name, kind in COLUMN_TYPES.items())
    con.execute(
        f"create table if not exists {QUALIFIED} (\n    {columns},\n"
        "    primary key (run_id, source)\n)"
    )
    present = {
        row[0]
        for row in con.rows(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [SCHEMA, TABLE],
        )
    }
    for name, kind in COLUMN_TYPES.items():
        if name not in present:  # a ledger written by an older apptsync
            nullable = kind.removesuffix(" not null")
            con.execute(f"alter table {QUALIFIED} add column {name} {nullable}")


def record(row: LedgerRow, database: str | None = None) -> bool:
    """Write one row (its `error` redacted once more); False, with a warning, when the
    warehouse cannot be written (a reader holds it, a read-only file system)."""
    if row.note:
        logger.warning("%s: %s", row.source, row.note)
    values = asdict(row)
    if values["error"]:
        values["error"] = redactor.redact(values["error"])
    names = [f.name for f in fields(LedgerRow)]
    updates = ", ".join(f"{n} = excluded.{n}" for n in names if n not in ("run_id", "source"))
    try:
        with _connection(database, read_only=False) as con:
            ensure_table(con)
            con.execute(
                f"insert into {QUALIFIED} ({', '.join(names)}) "
                f"values ({', '.join('?' for _ in names)}) "
                f"on conflict (run_id, source) do update set {updates}",
                [values[name] for name in names],
            )
    except Exception as exc:  # a reader holds the file, a read-only file system, a server down
        where = database or configured_destination().location()
        logger.warning("could not write the run ledger in %s: %s", where, redactor.redact(str(exc)))
        return False
    return True


def _connection(database: str | None, *, read_only: bool) -> AbstractContextManager[Connection]:
    """The configured warehouse, or the DuckDB file `database`."""
    if database is not None:
        return DuckDbDestination().connect_path(database, read_only=read_only)
    return configured_destination().connect(read_only=read_only)


def last_runs(
    source: str | None = None, limit: int = 5, database: str | None = None
) -> list[dict[str, Any]]:
    """The newest ledger rows (of one source, or of all), newest first; [] without a ledger."""
    where, params = ("where source = ?", [source]) if source else ("", [])
    sql = f"select * from {QUALIFIED} {where} order by started_at desc, source limit {int(limit)}"
    return _query(sql, params, database)


def last_ok_runs(sources: Sequence[str], database: str | None = None) -> dict[str, datetime | None]:
    """When each source last finished a run that was ok (None: never)."""
    found: dict[str, datetime | None] = dict.fromkeys(sources)
    sql = (
        f"select source, max(finished_at) as last_ok from {QUALIFIED} "
        "where outcome = 'ok' group by source"
    )
    rows = _query(sql, [], database)
    found.update({r["source"]: r["last_ok"] for r in rows if r["source"] in found})
    return found


def _query(sql: str, params: list[Any], database: str | None) -> list[dict[str, Any]]:
    """Rows as dicts; [] when there is no warehouse or no ledger in it yet."""
    if database is not None and not Path(database).exists():
        return []
    if database is None and not configured_destination().exists():
        return []
    try:
        with _connection(database, read_only=True) as con:
            return con.records(sql, params)
    except MissingRelation:
        return []
