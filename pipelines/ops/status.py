"""What an operator asks first: where are the cursors, what landed, what was quarantined."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dlt
import duckdb
from dlt.common.pipeline import get_dlt_pipelines_dir

from pipelines.extract.resource import SCAN_TABLE
from pipelines.sources import get_source
from pipelines.warehouse import database_path


def warehouse_counts(database: str | None = None) -> dict[str, dict[str, int]]:
    """Row counts of every table and view, by schema, dlt's bookkeeping tables left out."""
    path = database or database_path()
    if not Path(path).exists():
        return {}
    with duckdb.connect(path, read_only=True) as con:
        names = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_name not like '\\_dlt%' escape '\\' "
            "and table_schema not like '%\\_staging' escape '\\' order by 1, 2"
        ).fetchall()
        counts: dict[str, dict[str, int]] = {}
        for schema, table in names:
            count = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()
            counts.setdefault(schema, {})[table] = int(count[0]) if count else 0
        return counts


def paths_status() -> str:
    """Which files this run uses: cron may start in another folder than you think."""
    path = database_path()
    exists = Path(path).exists()
    return "\n".join(
        [
            f"warehouse: {path}" + ("" if exists else " (none yet — run `apptsync sync` first)"),
            f"dlt working folder: {get_dlt_pipelines_dir()}",
        ]
    )


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
        pending = [
            *pipeline.list_normalized_load_packages(),
            *pipeline.list_extracted_load_packages(),
        ]
        if pending:
            lines.append(
                f"  {len(pending)} load package(s) pending: the next sync loads them first"
            )
    tables = {
        name: count
        for name, count in warehouse_counts().get(source, {}).items()
        if name != SCAN_TABLE  # bookkeeping of the last complete scan, not data
    }
    for table, count in tables.items():
        lines.append(f"  {table:<50} {count:>9,}")
    if tables:
        lines.append(f"  last load: {_last_load(source) or 'none'}")
    return "\n".join(lines)


def _cursor(state: Mapping[str, Any], source: str) -> Any:
    resource = state.get("sources", {}).get(source, {}).get("resources", {})
    incremental = resource.get("appointments", {}).get("incremental", {})
    return incremental.get(get_source(source).cursor_field, {}).get("last_value")


def _last_load(source: str) -> str | None:
    with duckdb.connect(database_path(), read_only=True) as con:
        try:
            row = con.execute(
                f'select max(inserted_at) from "{source}"."_dlt_loads" where status = 0'
            ).fetchone()
        except duckdb.CatalogException:
            return None
    return str(row[0]) if row and row[0] else None
