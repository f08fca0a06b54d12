"""After dlt's load: what dlt cannot know about the rows it merged.

Why its own module: dlt replaces a merged appointment but appends its child rows, and it
cannot know that an appointment missing from a complete scan was deleted. Both fixes read
their names from the source's entry (tables, id and cursor columns), from
`pipelines.extract.resource` (the parent key, version and deleted columns, the scan table)
and from dlt (its load id column and loads table), never spelled here. The SQL is plain
(`exists`, `is distinct from`), tables are named by the destination's SQL client, and
the one dialect habit, how a delete or an update reports the rows it changed, is the
destination's (`Destination.changed_rows`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dlt.common.schema.typing import C_DLT_LOAD_ID, C_DLT_LOADS_TABLE_LOAD_ID, LOADS_TABLE_NAME
from dlt.pipeline.pipeline import Pipeline

from pipelines.destinations import configured_destination
from pipelines.extract.resource import (
    DELETED_COLUMN,
    PARENT_KEY_COLUMN,
    PARENT_TABLE,
    SCAN_ID_COLUMN,
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
                    removed += _delete_stale_children(client, child, entry)
            marked = _mark_deleted(client, entry) if SCAN_TABLE in existing else 0
        return removed, marked


def _tables(client: Any, dataset: str) -> set[str]:
    rows = client.execute_sql(
        "select table_name from information_schema.tables where table_schema = %s", dataset
    )
    return {r[0] for r in rows or []}


def _delete_stale_children(client: Any, child: str, entry: SourceEntry) -> int:
    """A child row is current only if it came with its appointment's current version."""
    where = f"""from {client.make_qualified_table_name(PARENT_TABLE)} p
        where p.{entry.id_column} = c.{PARENT_KEY_COLUMN}
          and (p.{C_DLT_LOAD_ID} <> c.{C_DLT_LOAD_ID}
               or p.{entry.cursor_column} is distinct from c.{VERSION_COLUMN})"""
    return configured_destination().changed_rows(
        client,
        f"delete from {client.make_qualified_table_name(child)} c where exists (select 1 {where})",
    )


def _mark_deleted(client: Any, entry: SourceEntry) -> int:
    """Only when the newest load wrote a complete scan: windowed runs infer nothing."""
    scan = client.make_qualified_table_name(SCAN_TABLE)
    loads = client.make_qualified_table_name(LOADS_TABLE_NAME)
    scan_load = client.execute_sql(f"select max({C_DLT_LOAD_ID}) from {scan}")
    newest = client.execute_sql(
        f"select max({C_DLT_LOADS_TABLE_LOAD_ID}) from {loads} where status = {LOAD_COMPLETED}"
    )
    if not scan_load or not newest or scan_load[0][0] is None or scan_load[0][0] != newest[0][0]:
        return 0
    appointments = client.make_qualified_table_name(PARENT_TABLE)
    # `exists`, not `in`: the scan's marker row has a null id (see extract.resource._ids_table)
    scanned = (
        f"exists (select 1 from {scan} s "
        f"where s.{SCAN_ID_COLUMN} = {appointments}.{entry.id_column})"
    )
    marked = configured_destination().changed_rows(
        client,
        f"update {appointments} set {DELETED_COLUMN} = %s "
        f"where {DELETED_COLUMN} is null and not {scanned}",
        datetime.now(UTC),
    )
    client.execute_sql(
        f"update {appointments} set {DELETED_COLUMN} = null "
        f"where {DELETED_COLUMN} is not null and {scanned}"
    )
    return marked
