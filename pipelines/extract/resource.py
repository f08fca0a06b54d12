"""The appointments resource both sources share: batches of records in, Arrow tables out.

Why this shape: each source only knows how to page its API. Everything after a page arrives
is the same for both: quarantine malformed records, let dlt's incremental drop what was
already loaded, skip rows re-read inside the lag window, flatten nested lists into child
tables, and hand dlt typed Arrow tables (no per-record normalizer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.extract.incremental import Incremental
from dlt.extract.resource import DltResource

from pipelines.extract.flatten import (
    QUARANTINE_COLUMNS,
    QUARANTINE_TABLE,
    BatchReader,
    Flattener,
    OpenObject,
    RecordSchema,
    quarantine_table,
)
from pipelines.redaction import get_logger

if TYPE_CHECKING:
    from pipelines.extract.columns import Table

logger = get_logger("apptsync.sync")

ROUTE = "_apptsync_route"
UNCOUNTED = "_apptsync_uncounted"  # the route of records that leave the cursor alone
SCAN_TABLE = "_appointment_scan"
SCAN_ID_COLUMN = "id"  # the one column of SCAN_TABLE: an id the complete scan returned
PARENT_TABLE = "appointments"
# Columns every child row carries so stale children can be found after a reload.
PARENT_KEY_COLUMN = "appointment_id"
VERSION_COLUMN = "appointment_updated_at"
# Set on an appointment a complete scan no longer returned (never removed).
DELETED_COLUMN = "deleted_at"
RECENT_PRUNE_AT = 50_000


class DriftError(RuntimeError):
    """The collection kept shifting while it was paged; loading now could miss rows."""


@dataclass(frozen=True)
class ResourceSpec:
    """Everything source-specific the shared resource needs, all of it data; the SQL, hints
    and open objects are generated from `tables` (`pipelines.extract.columns.resource_spec`)."""

    source: str
    schema: RecordSchema
    table_sql: Mapping[str, str]
    parent_columns: Mapping[str, Any]
    child_columns: Mapping[str, Mapping[str, Any]]
    id_arrow_type: pa.DataType
    open_objects: Mapping[str, OpenObject] = field(default_factory=dict)  # by table
    tables: tuple[Table, ...] = ()  # the declared raw tables, parent first


@dataclass
class ScanIds:
    """Every id a complete, drift-free scan of the whole collection returned."""

    ids: Iterable[Any]


@dataclass
class JsonRecords:
    """A batch of records still as JSON text (as the API sent them)."""

    texts: pa.Array
    moves_cursor: bool = True
    """False for records that dlt's incremental must neither filter nor count (webhook
    events: they arrive out of order, and only a complete scan may move the cursor)."""


@dataclass
class RunContext:
    """Shared by the page generator and the flatten step of one run."""

    lag_seconds: float
    recent: dict[str, int] = field(default_factory=dict)
    loaded_before: pa.Array | None = None  # "id@cursor" keys of the previous runs' window
    flattener: Flattener | None = None


Batch = "JsonRecords | ScanIds"
Batches = Callable[[Incremental[Any], RunContext], Iterator[Batch]]


def appointments_resource(
    spec: ResourceSpec, batches: Batches, cursor: Incremental[Any], lag_seconds: float
) -> DltResource:
    """A dlt resource named `appointments` that lands the parent and all child tables."""
    ctx = RunContext(lag_seconds=lag_seconds)
    id_name = spec.schema.id_field
    cursor_name = spec.schema.cursor_field

    @dlt.resource(name=PARENT_TABLE, primary_key=id_name, write_disposition="merge")
    def appointments(updated: Incremental[Any] = cursor) -> Iterator[pa.Table]:
        state = dlt.current.resource_state()
        ctx.recent = state.setdefault("recent_rows", {})
        ctx.loaded_before = _window_keys(ctx.recent)
        reader = BatchReader(spec.schema)
        ctx.flattener = Flattener(spec.table_sql, spec.open_objects, reader.con)
        try:
            for item in batches(updated, ctx):
                if isinstance(item, ScanIds):
                    yield _carrier(_ids_table(item.ids, spec.id_arrow_type), SCAN_TABLE, spec)
                    continue
                result = reader.read_texts(item.texts)
                if result.quarantined:
                    for q in result.quarantined:
                        logger.warning("quarantined a %s record: %s", spec.source, q.reason)
                    table = quarantine_table(spec.source, PARENT_TABLE, result.quarantined, id_name)
                    yield _carrier(table, QUARANTINE_TABLE, spec)
                if result.good is not None and result.good.num_rows:
                    yield result.good if item.moves_cursor else _uncounted(result.good, spec)
        finally:
            ctx.flattener.close()
            reader.close()
        _prune_recent(ctx.recent, lag_seconds)

    resource = appointments(cursor)
    # Every table gets its own hint variant; the resource keeps no columns, since
    # variants start from a copy of the resource's hints.
    resource.apply_hints(
        table_name=PARENT_TABLE,
        write_disposition="merge",
        primary_key=id_name,
        columns=dict(spec.parent_columns),
        create_table_variant=True,
    )
    for table, columns in spec.child_columns.items():
        resource.apply_hints(
            table_name=table,
            write_disposition="append",
            primary_key="",
            merge_key="",
            columns=dict(columns),
            create_table_variant=True,
        )
    resource.apply_hints(
        table_name=QUARANTINE_TABLE,
        write_disposition="append",
        primary_key="",
        merge_key="",
        columns=QUARANTINE_COLUMNS,
        create_table_variant=True,
    )
    resource.apply_hints(
        table_name=SCAN_TABLE,
        write_disposition="replace",
        primary_key="",
        merge_key="",
        columns={SCAN_ID_COLUMN: {"data_type": spec.parent_columns["id"]["data_type"]}},
        create_table_variant=True,
    )
    step = _flatten_step(ctx, id_name, cursor_name)
    resource.add_yield_map(step, insert_at=len(resource._pipe.steps))
    return resource


def _carrier(table: pa.Table, route: str, spec: ResourceSpec) -> pa.Table:
    """Lets an auxiliary table pass dlt's incremental step untouched (null id and cursor)."""
    n = table.num_rows
    carried = (
        table.append_column(ROUTE, pa.array([route] * n, pa.string()))
        .append_column(spec.schema.id_field, pa.nulls(n, spec.id_arrow_type))
        .append_column(spec.schema.cursor_field, pa.nulls(n, pa.timestamp("us", tz="UTC")))
    )
    # an empty table has no row to read the route from (an empty collection's scan)
    return carried.replace_schema_metadata({ROUTE: route})


def _uncounted(table: pa.Table, spec: ResourceSpec) -> pa.Table:
    """Typed rows that pass dlt's incremental as a carrier; `_counted_again` restores them."""
    id_name, cursor_name = spec.schema.id_field, spec.schema.cursor_field
    n = table.num_rows
    for name in (id_name, cursor_name):
        column = table.column(name)
        table = table.set_column(
            table.schema.get_field_index(name), name, pa.nulls(n, column.type)
        ).append_column(f"{UNCOUNTED}{name}", column)
    return table.append_column(ROUTE, pa.array([UNCOUNTED] * n, pa.string()))


def _counted_again(batch: pa.Table, id_name: str, cursor_name: str) -> pa.Table:
    for name in (id_name, cursor_name):
        kept = batch.column(f"{UNCOUNTED}{name}")
        batch = batch.set_column(batch.schema.get_field_index(name), name, kept)
        batch = batch.drop_columns([f"{UNCOUNTED}{name}"])
    return batch.drop_columns([ROUTE])


def _ids_table(ids: Iterable[Any], id_type: pa.DataType) -> pa.Table:
    """The scanned ids plus one null row: it carries the load id even when the collection
    is empty, so the clean-up can tell "scanned, found nothing" from "not scanned"."""
    return pa.table({"scanned_id": pa.array(chain(ids, [None]), id_type)})


def _flatten_step(
    ctx: RunContext, id_name: str, cursor_name: str
) -> Callable[[pa.Table], Iterator[Any]]:
    def flatten(batch: pa.Table) -> Iterator[Any]:
        if ROUTE in batch.column_names and batch.column(ROUTE)[0].as_py() == UNCOUNTED:
            batch = _counted_again(batch, id_name, cursor_name)
        if ROUTE in batch.column_names:
            metadata = batch.schema.metadata or {}
            route = metadata.get(ROUTE.encode(), b"").decode() or batch.column(ROUTE)[0].as_py()
            aux = batch.drop_columns([ROUTE, id_name, cursor_name])
            if route == SCAN_TABLE:
                aux = aux.rename_columns([SCAN_ID_COLUMN])
            yield dlt.mark.with_table_name(aux, route)
            return
        batch = _drop_loaded(batch, ctx.loaded_before, id_name, cursor_name)
        if batch.num_rows == 0:
            return
        _remember(batch, ctx.recent, id_name, cursor_name)
        if len(ctx.recent) > RECENT_PRUNE_AT:
            _prune_recent(ctx.recent, ctx.lag_seconds)
        assert ctx.flattener is not None, "the flatten step runs inside the resource's run"
        for table, rows in ctx.flattener.flatten(batch).items():
            if rows.num_rows:
                yield dlt.mark.with_table_name(rows, table)

    return flatten


def _row_keys(batch: pa.Table, id_name: str, cursor_name: str) -> pa.Array:
    ids = pc.cast(batch.column(id_name), pa.string())
    micros = pc.cast(pc.cast(batch.column(cursor_name), pa.int64()), pa.string())
    return pc.binary_join_element_wise(ids, micros, "@")


def _window_keys(recent: Mapping[str, int]) -> pa.Array | None:
    """Built once per run: rows of this run are never re-read within it (the scans
    de-duplicate), so only the previous runs' window needs checking."""
    if not recent:
        return None
    return pa.array([f"{k}@{v}" for k, v in recent.items()], pa.string())


def _drop_loaded(
    batch: pa.Table, loaded: pa.Array | None, id_name: str, cursor_name: str
) -> pa.Table:
    """Rows re-read inside the lag window with an unchanged cursor were loaded already."""
    if loaded is None:
        return batch
    keep = pc.invert(pc.is_in(_row_keys(batch, id_name, cursor_name), value_set=loaded))
    return batch.filter(keep)


def _remember(batch: pa.Table, recent: dict[str, int], id_name: str, cursor_name: str) -> None:
    ids = batch.column(id_name).to_pylist()
    micros = pc.cast(batch.column(cursor_name), pa.int64()).to_pylist()
    for rid, micro in zip(ids, micros, strict=True):
        recent[str(rid)] = micro


def _prune_recent(recent: dict[str, int], lag_seconds: float) -> None:
    """Keep only rows inside the lag window below the newest cursor: the state stays small."""
    if not recent:
        return
    floor = max(recent.values()) - int(lag_seconds * 1_000_000)
    for key in [k for k, v in recent.items() if v < floor]:
        del recent[key]
