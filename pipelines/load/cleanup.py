"""After dlt's load: what dlt cannot know about the rows it merged.

Why its own module: dlt replaces a merged appointment but appends its child rows, and it
cannot know that an appointment missing from a complete scan was deleted. Both fixes read
their names from the source's spec (tables, id and cursor columns) and from
`pipelines.extract.resource` (the parent key, version and deleted columns, the scan table),
never spelled here; the SQL is plain enough to carry to another dialect.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dlt.pipeline.pipeline import Pipeline

from pipelines.extract.resource import (
    DELETED_COLUMN,
    PARENT_KEY_COLUMN,
    PARENT_TABLE,
    SCAN_TABLE,
    VERSION_COLUMN,
)
from pipelines.sources.entry import SourceEntry

LOAD_COMPLETED = 0
"""`_dlt_loads.status` of a load dlt finished (dlt's own constant)."""


def finish_load(pipeline: Pipeline, entry: SourceEntry) -> tuple[int, int]:
    """Remove child rows that belong to an older version of their appointment, and mark
    appointments a complete scan no longer returned. Idempotent, so a run killed between
    dlt's load and this step is finished by the next run."""
    dataset = pipeline.dataset_name
    with pipeline.sql_client() as client:
        existing = _tables(client, dataset)
        if PARENT_TABLE not in existing:
            return 0, 0
        removed = 0
        with client.begin_transaction():
            for child in entry.child_tables:
                if child in existing:
                    removed += _delete_stale_children(client, dataset, child, entry)
            marked = _mark_deleted(client, dataset) if SCAN_TABLE in existing else 0
        return removed, marked


def _tables(client: Any, dataset: str) -> set[str]:
    rows = client.execute_sql(
        "select table_name from information_schema.tables where table_schema = %s", dataset
    )
    return {r[0] for r in rows or []}


def _delete_stale_children(client: Any, dataset: str, child: str, entry: SourceEntry) -> int:
    """A child row is current only if it came with its appointment's current version."""
    where = f"""from "{dataset}"."{PARENT_TABLE}" p
        where p.{entry.id_column} = c.{PARENT_KEY_COLUMN}
          and (p._dlt_load_id <> c._dlt_load_id
               or p.{entry.cursor_column} is distinct from c.{VERSION_COLUMN})"""
    # DuckDB answers a delete with the number of rows it removed
    deleted = client.execute_sql(
        f'delete from "{dataset}"."{child}" c where exists (select 1 {where})'
    )
    return int(deleted[0][0]) if deleted else 0


def _mark_deleted(client: Any, dataset: str) -> int:
    """Only when the newest load wrote a complete scan: windowed runs infer nothing."""
    scan_load = client.execute_sql(f'select max(_dlt_load_id) from "{dataset}"."{SCAN_TABLE}"')
    newest = client.execute_sql(
        f'select max(load_id) from "{dataset}"."_dlt_loads" where status = {LOAD_COMPLETED}'
    )
    if not scan_load or not newest or scan_load[0][0] is None or scan_load[0][0] != newest[0][0]:
        return 0
    appointments = f'"{dataset}"."{PARENT_TABLE}"'
    scan = f'"{dataset}"."{SCAN_TABLE}"'
    # `exists`, not `in`: the scan's marker row has a null id (see extract.resource._ids_table)
    scanned = f"exists (select 1 from {scan} s where s.id = {appointments}.id)"
    marked = client.execute_sql(
        f"update {appointments} set {DELETED_COLUMN} = %s "
        f"where {DELETED_COLUMN} is null and not {scanned}",
        datetime.now(UTC),
    )
    client.execute_sql(
        f"update {appointments} set {DELETED_COLUMN} = null "
        f"where {DELETED_COLUMN} is not null and {scanned}"
    )
    return int(marked[0][0]) if marked else 0
