"""What an operator asks first: where are the cursors, what landed, what was quarantined."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import dlt
import duckdb
from dlt.common.pipeline import get_dlt_pipelines_dir

from pipelines.sources import get_source
from pipelines.warehouse import database_path

RELATION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")


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
        pending = pipeline.list_normalized_load_packages() + pipeline.list_extracted_load_packages()
        if pending:
            lines.append(
                f"  {len(pending)} load package(s) pending: the next sync loads them first"
            )
    tables = warehouse_counts().get(source, {})
    for table, count in tables.items():
        lines.append(f"  {table:<50} {count:>9,}")
    if tables:
        lines.append(f"  last load: {_last_load(source) or 'none'}")
    return "\n".join(lines)


def _cursor(state: dict[str, Any], source: str) -> Any:
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


def export_relation(relation: str, output: Path, file_format: str | None = None) -> int:
    """Write a view or table to CSV or Parquet with DuckDB's COPY; returns the row count."""
    if not RELATION.match(relation):
        raise ValueError(f"'{relation}' is not a schema.name relation")
    fmt = file_format or ("parquet" if output.suffix.lower() == ".parquet" else "csv")
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown export format '{fmt}' (csv or parquet)")
    schema, name = relation.split(".")
    output.parent.mkdir(parents=True, exist_ok=True)
    target = str(output).replace("'", "''")
    options = "(format parquet)" if fmt == "parquet" else "(format csv, header true)"
    with duckdb.connect(database_path(), read_only=True) as con:
        con.execute(f'copy (select * from "{schema}"."{name}") to \'{target}\' {options}')
        row = con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()
    return int(row[0]) if row else 0
