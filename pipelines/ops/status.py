"""What an operator asks first: where are the cursors, what landed, what was quarantined."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.common.pipeline import get_dlt_pipelines_dir
from dlt.common.versioned_state import json_decode_state
from dlt.pipeline.pipeline import Pipeline

from pipelines.destinations import MissingRelation, configured_destination
from pipelines.destinations.duckdb import DuckDbDestination
from pipelines.extract.resource import SCAN_TABLE
from pipelines.ops import ledger
from pipelines.ops.lock import lock_holder
from pipelines.sources import get_source

USER_TABLES = (
    "select table_schema, table_name from information_schema.tables "
    "where table_name not like '\\_dlt%' escape '\\' and table_name <> ? "
    "and table_schema not like '%\\_staging' escape '\\' "
    "and table_schema not in ('information_schema', 'pg_catalog') order by 1, 2"
)
"""Every table and view but dlt's bookkeeping and staging tables and the catalog's own."""


def warehouse_counts(database: str | None = None) -> dict[str, dict[str, int]]:
    """Row counts of every table and view, by schema, bookkeeping left out: dlt's tables and
    `_appointment_scan` (docs/raw-tables.md: the ids of the latest complete scan, plus one
    null row), whose count would read as a second, disagreeing count of appointments. Of the
    configured warehouse, or of the DuckDB file `database`."""
    if database is not None:
        if not Path(database).exists():
            return {}
        connection = DuckDbDestination().connect_path(database)
    else:
        if not configured_destination().exists():
            return {}
        connection = configured_destination().connect()
    with connection as con:
        counts: dict[str, dict[str, int]] = {}
        for schema, table in con.rows(USER_TABLES, [SCAN_TABLE]):
            count = con.rows(f'select count(*) from "{schema}"."{table}"')
            counts.setdefault(schema, {})[table] = int(count[0][0]) if count else 0
        return counts


def paths_status() -> str:
    """Which warehouse and files this run uses: cron may start in another folder than you
    think. A server's URL is shown without its password."""
    destination = configured_destination()
    exists = destination.exists()
    return "\n".join(
        [
            f"warehouse: {destination.location()}"
            + ("" if exists else " (none yet — run `apptsync sync` first)"),
            f"dlt working folder: {get_dlt_pipelines_dir()}",
        ]
    )


def status_document(sources: Sequence[str]) -> dict[str, Any]:
    """Everything `status` shows, as one JSON-ready document for monitors."""
    counts = warehouse_counts()
    return {
        "warehouse": configured_destination().location(),
        "destination": configured_destination().name,
        "generated_at": datetime.now(UTC),
        "running": lock_holder(),
        "sources": {source: _source_document(source, counts) for source in sources},
    }


def _source_document(source: str, counts: dict[str, dict[str, int]]) -> dict[str, Any]:
    synced = (Path(get_dlt_pipelines_dir()) / source).exists()
    pipeline = dlt.attach(pipeline_name=source) if synced else None
    return {
        "cursor_field": get_source(source).cursor_field,
        "cursor": _cursor(pipeline.state, source) if pipeline else None,
        "pending_packages": len(_pending(pipeline)) if pipeline else 0,
        "last_load": _last_load(source) if counts.get(source) else None,
        "row_counts": counts.get(source, {}),
        "last_runs": ledger.last_runs(source),
    }


def _pending(pipeline: Any) -> list[str]:
    return list(pipeline.list_normalized_load_packages() + pipeline.list_extracted_load_packages())


def format_run(run: Mapping[str, Any]) -> str:
    """One ledger row on one line: when, outcome, what landed, what it took."""
    started = run["started_at"].astimezone(UTC)
    line = f"{started:%Y-%m-%d %H:%M:%S}Z {run['outcome']:<6} {run['seconds']:.1f}s"
    if run["outcome"] == "ok":
        line += f", {run['rows_loaded']} rows"
        if run["api_total"] is not None:
            line += f" (API total {run['api_total']}, {run['ids_seen']} ids seen)"
        if run["quarantined"]:
            line += f", {run['quarantined']} quarantined"
    line += f", {run['requests']} requests, {run['retries']} retries"
    if run["note"]:
        line += f"; note: {run['note']}"
    if run["error"]:
        line += f": {run['error']}"
    return line


def source_status(source: str) -> str:
    """A few lines per source: last load, cursor, pending packages, tables, quarantine."""
    lines = [f"{source}:"]
    pipeline_dir = Path(get_dlt_pipelines_dir()) / source
    if not pipeline_dir.exists():
        lines.append("  never synced on this machine (no dlt working folder)")
    else:
        pipeline = dlt.attach(pipeline_name=source)
        cursor = _cursor(pipeline.state, source)
        shown = cursor or "not set (next run is a full load)"
        lines.append(f"  cursor {get_source(source).cursor_field}: {shown}")
        pending = _pending(pipeline)
        if pending:
            lines.append(
                f"  {len(pending)} load package(s) pending: the next sync loads them first"
            )
    tables = warehouse_counts().get(source, {})
    for table, count in tables.items():
        lines.append(f"  {table:<50} {count:>9,}")
    if tables:
        lines.append(f"  last load: {_last_load(source) or 'none'}")
    runs = ledger.last_runs(source, limit=3)
    if runs:
        lines.append("  last runs (ops.sync_runs):")
        lines.extend(f"    {format_run(run)}" for run in runs)
    return "\n".join(lines)


def pipeline_cursor(source: str) -> Any:
    """The source's incremental cursor in dlt's local state; None before its first run.

    Read from the pipeline's state file rather than through `dlt.attach`, which costs
    ~70 ms: the ledger reads it before and after every source's run."""
    state_file = Path(get_dlt_pipelines_dir()) / source / Pipeline.STATE_FILE
    try:
        state = json_decode_state(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return _cursor(state, source) if isinstance(state, dict) else None


def _cursor(state: Mapping[str, Any], source: str) -> Any:
    resource = state.get("sources", {}).get(source, {}).get("resources", {})
    incremental = resource.get("appointments", {}).get("incremental", {})
    return incremental.get(get_source(source).cursor_field, {}).get("last_value")


def _last_load(source: str) -> str | None:
    try:
        with configured_destination().connect() as con:
            row = con.rows(f'select max(inserted_at) from "{source}"."_dlt_loads" where status = 0')
    except MissingRelation:
        return None
    return str(row[0][0]) if row and row[0][0] else None
