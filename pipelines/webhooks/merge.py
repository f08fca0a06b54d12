"""Events first: what a sync takes from the spool, what it merges, and when it scans.

Why here and not in the source: the rules are the same for any source that receives
webhooks. Deliveries come duplicated and out of order, so the newest version of each
appointment wins (by `updatedAt`; a deletion wins a tie), and it is merged only if it is
newer than the warehouse's row; an older event never overwrites a newer row. Events never
move the incremental cursor (they arrive out of order; only complete scans may move the
high-water mark), so the next full scan re-reads everything since the last one and finds
what a dropped delivery missed.

State (dlt resource state of the `appointments` resource, committed with the load):
`last_full_scan_at` (UTC) and `webhook_run` (the spool folder, the segments this run read
and the deletions it found), which `commit_spooled_events` applies after the load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import dlt
import orjson
import pyarrow as pa
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.extract.incremental import Incremental
from dlt.pipeline.pipeline import Pipeline

from pipelines.destinations import configured_destination
from pipelines.extract.flatten import RecordSchema
from pipelines.extract.resource import (
    DELETED_COLUMN,
    PARENT_TABLE,
    JsonRecords,
    RunContext,
    ScanIds,
)
from pipelines.redaction import get_logger
from pipelines.webhooks.envelope import is_deletion
from pipelines.webhooks.settings import WebhookSettings
from pipelines.webhooks.spool import Spool, SpooledEvent

logger = get_logger("apptsync.webhooks")

LAST_FULL_SCAN = "last_full_scan_at"
RUN_STATE = "webhook_run"
_NAMING = NamingConvention()

Versions = Mapping[str, tuple[datetime | None, datetime | None]]
"""appointment id -> (its row's cursor value, its `deleted_at`) in the warehouse"""
VersionLookup = Callable[[list[str]], Versions | None]
"""The warehouse's versions of these ids; None when the table does not exist yet."""
Batch = JsonRecords | ScanIds
Batches = Callable[[Incremental[Any], RunContext], Iterator[Batch]]


@dataclass
class EventPlan:
    """What the spooled events of one run amount to."""

    records: list[bytes] = field(default_factory=list)  # appointment JSON texts to merge
    deletions: dict[str, str] = field(default_factory=dict)  # id -> deleted_at (ISO)
    events: int = 0
    duplicates: int = 0
    superseded: int = 0  # an event of the same run had a newer version
    stale: int = 0  # the warehouse already had this version or a newer one


def _as_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def full_scan_due(state: Mapping[str, Any], every_seconds: float, now: datetime) -> bool:
    """True when no complete scan is on record or the last is at least `every_seconds` old."""
    last = _as_time(state.get(LAST_FULL_SCAN))
    return last is None or now - last >= timedelta(seconds=every_seconds)


def record_full_scan(state: MutableMapping[str, Any], now: datetime) -> None:
    state[LAST_FULL_SCAN] = _iso(now)


def _rank(event: SpooledEvent, version: datetime | None, order: int) -> tuple[datetime, bool, int]:
    """Newest version first; on a tie a deletion wins, then the later delivery. A deletion
    without a version is final."""
    deleted = is_deletion(event.type)
    if version is None:
        version = datetime.max.replace(tzinfo=UTC)
    return version, deleted, order


def plan_events(
    events: list[SpooledEvent], id_field: str, cursor_field: str, versions: VersionLookup
) -> EventPlan | None:
    """Deduplicate by event id, keep the newest version per appointment, drop what the
    warehouse already has (None: it has no table yet). Records without an id or a readable
    cursor go on unchanged: the flatten step quarantines them with the reason, as it does
    a page's."""
    plan = EventPlan(events=len(events))
    seen: set[str] = set()
    best: dict[str, tuple[tuple[datetime, bool, int], SpooledEvent, datetime | None]] = {}
    for order, event in enumerate(events):
        if event.event_id in seen:
            plan.duplicates += 1
            continue
        seen.add(event.event_id)
        rid, version = event.data.get(id_field), _as_time(event.data.get(cursor_field))
        if rid is None or rid == "" or (version is None and not is_deletion(event.type)):
            plan.records.append(orjson.dumps(event.data))
            continue
        key = str(rid)
        rank = _rank(event, version, order)
        if key in best:
            plan.superseded += 1
            if best[key][0] >= rank:
                continue
        best[key] = (rank, event, version)
    current = versions(sorted(best))
    if current is None:
        return None
    for key, (_, event, version) in best.items():
        row_version, row_deleted = current.get(key, (None, None))
        newer = version is not None and all(
            known is None or version > known for known in (row_version, row_deleted)
        )
        if newer:
            plan.records.append(orjson.dumps(event.data))
        else:
            plan.stale += 1
        if is_deletion(event.type) and (newer or key in current):
            deleted_at = version or _as_time(event.received_at) or datetime.now(UTC)
            if row_version is None or deleted_at >= row_version:
                plan.deletions[key] = _iso(deleted_at)
    return plan


def claim_events(
    settings: WebhookSettings,
    state: MutableMapping[str, Any],
    *,
    merge: bool,
    schema: RecordSchema,
    versions: VersionLookup,
) -> EventPlan | None:
    """Claim the spool and note its segments in the run's state; when `merge`, plan the
    events (None: the warehouse has no table yet, so a full scan must run instead). A full
    scan reads the current state of every appointment itself, so the events claimed for it
    are only committed with it."""
    spool = Spool(settings.spool_dir)
    segments = spool.claim()
    plan: EventPlan | None = EventPlan()
    if merge:
        events = list(spool.read(segments))
        plan = plan_events(events, schema.id_field, schema.cursor_field, versions)
    state[RUN_STATE] = {
        "spool_dir": str(settings.spool_dir),
        "segments": segments,
        "deletions": plan.deletions if plan else {},
    }
    if merge and plan is not None:
        logger.info(
            "webhooks: %d events in %d segments: %d to merge, %d duplicates, %d superseded, "
            "%d already loaded, %d deletions",
            plan.events,
            len(segments),
            len(plan.records),
            plan.duplicates,
            plan.superseded,
            plan.stale,
            len(plan.deletions),
        )
    return plan


def events_first(
    settings: WebhookSettings,
    scan: Batches,
    *,
    schema: RecordSchema,
    full_scan: bool,
    complete: bool,
    batch_records: int,
) -> Batches:
    """Wrap a source's scan: with webhooks on, merge the spooled events and scan only when a
    full scan is due (`full_scan_every`, `full_scan`, or no warehouse table yet). A scan of
    the whole collection (`complete`) that finishes is recorded as the last full scan."""

    def batches(updated: Incremental[Any], ctx: RunContext) -> Iterator[Batch]:
        state = dlt.current.resource_state()
        now = datetime.now(UTC)
        if not settings.enabled:
            state.pop(RUN_STATE, None)
        else:
            versions = partial(warehouse_versions, dlt.current.pipeline(), schema.cursor_field)
            due = full_scan or full_scan_due(state, settings.full_scan_every_seconds, now)
            plan = claim_events(settings, state, merge=not due, schema=schema, versions=versions)
            if not due and plan is not None:
                for start in range(0, len(plan.records), batch_records):
                    chunk = plan.records[start : start + batch_records]
                    yield JsonRecords(pa.array(chunk, pa.string()), moves_cursor=False)
                return
        yield from scan(updated, ctx)
        if complete:
            record_full_scan(state, now)

    return batches


def warehouse_versions(pipeline: Pipeline, cursor_field: str, ids: list[str]) -> Versions | None:
    """The warehouse's cursor value and deletion mark of each id (read during extraction,
    before dlt's load opens the file)."""
    cursor = _NAMING.normalize_identifier(cursor_field)
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name(PARENT_TABLE)
        try:
            rows = client.execute_sql(
                f"select id, {cursor}, {DELETED_COLUMN} from {table} "
                "where id in (select unnest(%s))",
                ids,
            )
        except DatabaseUndefinedRelation:
            return None
    return {str(r[0]): (r[1], r[2]) for r in rows or []}


def commit_spooled_events(pipeline: Pipeline, source: str) -> int:
    """After a committed load: mark the run's deletions, then move its segments to `done/`;
    returns how many appointments it marked deleted.
    Idempotent; a run stopped before this leaves the segments in `ready/` to be read again
    (their events are then already in the warehouse, so nothing is written twice)."""
    resources = pipeline.state.get("sources", {}).get(source, {}).get("resources", {})
    run = resources.get(PARENT_TABLE, {}).get(RUN_STATE)
    if not run:
        return 0
    marked = _mark_deletions(pipeline, dict(run.get("deletions") or {}))
    moved = Spool(Path(run["spool_dir"])).commit(list(run.get("segments") or []))
    if moved:
        logger.info("webhooks: %d spool segments committed", moved)
    return marked


def _mark_deletions(pipeline: Pipeline, deletions: dict[str, str]) -> int:
    if not deletions:
        return 0
    values = ", ".join("(%s, cast(%s as timestamptz))" for _ in deletions)
    params = [v for pair in deletions.items() for v in pair]
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name(PARENT_TABLE)
        return configured_destination().changed_rows(
            client,
            f"update {table} set {DELETED_COLUMN} = d.deleted_at "
            f"from (values {values}) d(id, deleted_at) "
            f"where {table}.id = d.id and {table}.{DELETED_COLUMN} is null",
            *params,
        )
