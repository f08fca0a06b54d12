"""The appointments resource both sources share: batches of records in, Arrow tables out.

Why this shape: each source only knows how to page its API. Everything after a page arrives
is the same for both: quarantine malformed records, let dlt's incremental drop what was
already loaded, skip rows re-read inside the lag window, flatten nested lists into child
tables, and hand dlt typed Arrow tables (no per-record normalizer).
"""

from __future__ import annotations

from collections import deque
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

SCAN_TABLE = "_appointment_scan"
SCAN_ID_COLUMN = "id"  # the one column of SCAN_TABLE: an id the complete scan returned
PARENT_TABLE = "appointments"
TABLES_RESOURCE = "appointment_tables"
SIDE_RESOURCE = "appointment_side_tables"
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
    # Tables for `appointment_side_tables`, handed over by `appointments` as they arise:
    # the side tables, and the parent and child tables of records that bypass the cursor.
    side: deque[tuple[str, pa.Table]] = field(default_factory=deque)
    scan_finished: bool = False


Batch = JsonRecords | ScanIds
Batches = Callable[[Incremental[Any], RunContext], Iterator[Batch]]


def appointments_resource(
    spec: ResourceSpec, batches: Batches, cursor: Incremental[Any], lag_seconds: float
) -> list[DltResource]:
    """The resources of one source: they land the parent, all child tables and the side
    tables (`_quarantine`, `_appointment_scan`), with dlt's public API only.

    - `appointments` pages the API and yields the well-formed records as Arrow; it carries
      the incremental (its state is the cursor) and is not loaded itself.
    - `appointment_tables`, a transformer of it, sees only what the incremental let
      through, and flattens it into the parent and child tables.
    - `appointment_side_tables` yields the quarantined records and the scan's ids, which
      `appointments` hands it within the run: they never pass the incremental. So do the
      flattened tables of records that must not move the cursor (`JsonRecords.moves_cursor`
      False: webhook events); the side resource declares the parent and child tables with
      the very hints of `appointment_tables`, so they merge and append the same way.
    """
    ctx = RunContext(lag_seconds=lag_seconds)
    id_name = spec.schema.id_field
    cursor_name = spec.schema.cursor_field

    @dlt.resource(name=PARENT_TABLE, primary_key=id_name, selected=False)
    def appointments(updated: Incremental[Any] = cursor) -> Iterator[pa.Table]:
        state = dlt.current.resource_state()
        ctx.recent = state.setdefault("recent_rows", {})
        ctx.loaded_before = _window_keys(ctx.recent)
        reader = BatchReader(spec.schema)
        ctx.flattener = Flattener(spec.table_sql, spec.open_objects, reader.con)
        try:
            for item in batches(updated, ctx):
                if isinstance(item, ScanIds):
                    ctx.side.append((SCAN_TABLE, _ids_table(item.ids, spec.id_arrow_type)))
                    continue
                result = reader.read_texts(item.texts)
                if result.quarantined:
                    for q in result.quarantined:
                        logger.warning("quarantined a %s record: %s", spec.source, q.reason)
                    table = quarantine_table(spec.source, PARENT_TABLE, result.quarantined, id_name)
                    ctx.side.append((QUARANTINE_TABLE, table))
                if result.good is None or not result.good.num_rows:
                    continue
                if item.moves_cursor:
                    yield result.good
                else:
                    ctx.side.extend(_new_tables(ctx, result.good, id_name, cursor_name))
        finally:
            ctx.flattener.close()
            reader.close()
            ctx.scan_finished = True
        _prune_recent(ctx.recent, lag_seconds)

    main = appointments(cursor)
    tables = dlt.transformer(
        _flatten(ctx, id_name, cursor_name),
        name=TABLES_RESOURCE,
        data_from=main,
        primary_key=id_name,
        write_disposition="merge",
    )
    side = dlt.resource(_side_tables(ctx), name=SIDE_RESOURCE)
    _declare_tables(spec, tables, side)
    return [main, tables, side]


def _ids_table(ids: Iterable[Any], id_type: pa.DataType) -> pa.Table:
    """The scanned ids plus one null row: it carries the load id even when the collection
    is empty, so the clean-up can tell "scanned, found nothing" from "not scanned"."""
    return pa.table({SCAN_ID_COLUMN: pa.array(chain(ids, [None]), id_type)})


def _flatten(
    ctx: RunContext, id_name: str, cursor_name: str
) -> Callable[[pa.Table], Iterator[Any]]:
    """The transformer's function: rows the incremental kept, as parent and child tables.

    It flattens when dlt calls it, not when dlt later drains what it returns: the flattener
    works in the reader's DuckDB, which `appointments` closes once its scan is done, and dlt
    may resume `appointments` before it drains a transformer's output.
    """

    def appointment_tables(batch: pa.Table) -> Iterator[Any]:
        tables = _new_tables(ctx, batch, id_name, cursor_name)
        return iter([dlt.mark.with_table_name(t, name) for name, t in tables])

    return appointment_tables


def _new_tables(
    ctx: RunContext, batch: pa.Table, id_name: str, cursor_name: str
) -> list[tuple[str, pa.Table]]:
    """Parent and child tables of the rows not loaded before (by name, none empty)."""
    batch = _drop_loaded(batch, ctx.loaded_before, id_name, cursor_name)
    if batch.num_rows == 0:
        return []
    _remember(batch, ctx.recent, id_name, cursor_name)
    if len(ctx.recent) > RECENT_PRUNE_AT:
        _prune_recent(ctx.recent, ctx.lag_seconds)
    assert ctx.flattener is not None, "appointments opens the flattener before yielding"
    return [(name, t) for name, t in ctx.flattener.flatten(batch).items() if t.num_rows]


def _side_tables(ctx: RunContext) -> Callable[[], Iterator[Any]]:
    """The side resource's generator: what `appointments` handed over, until it is done.

    dlt evaluates a source's resources in turns (round robin by default, `fifo` if so
    configured), on one thread. Whenever nothing has been handed over yet, this yields
    None, which dlt's pipe iterator takes as "nothing now" and moves on to the other
    resources, so the order in which dlt polls them does not matter.
    """

    def appointment_side_tables() -> Iterator[Any]:
        if TABLES_RESOURCE not in dlt.current.source().resources.selected:
            return  # appointments will not run: nothing will be handed over
        while True:
            while ctx.side:
                table_name, table = ctx.side.popleft()
                yield dlt.mark.with_table_name(table, table_name)
            if ctx.scan_finished:
                return
            yield None

    return appointment_side_tables


def _declare_tables(spec: ResourceSpec, tables: DltResource, side: DltResource) -> None:
    """Every table gets its own hint variant; the resources keep no columns, since
    variants start from a copy of the resource's hints. The parent and child tables are
    declared alike on both resources that write them."""
    for resource in (tables, side):
        resource.apply_hints(
            table_name=PARENT_TABLE,
            write_disposition="merge",
            primary_key=spec.schema.id_field,
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
    side.apply_hints(
        table_name=QUARANTINE_TABLE,
        write_disposition="append",
        columns=QUARANTINE_COLUMNS,
        create_table_variant=True,
    )
    side.apply_hints(
        table_name=SCAN_TABLE,
        write_disposition="replace",
        columns={SCAN_ID_COLUMN: {"data_type": spec.parent_columns["id"]["data_type"]}},
        create_table_variant=True,
    )


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
