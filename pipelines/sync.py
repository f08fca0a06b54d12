"""Run one source into its own dlt pipeline, then tidy what dlt cannot know about.

Each source has its own pipeline (named after it, dataset of the same name), so one
source's outage never blocks the other and `dlt pipeline pexip_engage info` just works.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.exceptions import (
    ConfigFieldMissingException,
    ConfigValueCannotBeCoercedException,
)
from dlt.common.pipeline import LoadInfo
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.pipeline.pipeline import Pipeline

from pipelines.arrow_resource import PARENT_TABLE, SCAN_TABLE, VERSION_COLUMN, DriftError
from pipelines.config import ConfigError, env_name
from pipelines.http import ApiError, get_logger, redactor

logger = get_logger("apptsync.sync")

SOURCES = ("pexip_engage", "valomnia")
DEFAULT_DATABASE = "apptsync.duckdb"
DUCKDB_MEMORY_LIMIT = "256MB"  # enough for the merges; see bench/README.md
PARQUET = "parquet"


@dataclass
class SyncResult:
    """What one source's run did, for the CLI summary and for callers in Python."""

    source: str
    ok: bool
    seconds: float
    rows: dict[str, int] = field(default_factory=dict)
    stale_child_rows_removed: int = 0
    marked_deleted: int = 0
    error: str | None = None
    load_ids: list[str] = field(default_factory=list)


def database_path() -> str:
    """The DuckDB file from dlt's own `destination.duckdb.credentials` (default apptsync.duckdb),
    made absolute against the current folder: dlt would resolve a relative path against the
    folder the pipeline first ran in, and a second checkout would write into the first's."""
    configured = str(dlt.config.get("destination.duckdb.credentials") or DEFAULT_DATABASE)
    if ":" in configured and not Path(configured).anchor:  # :memory:, md:…, a URL
        return configured
    return str(Path(configured).resolve())


def warehouse_credentials() -> DuckDbCredentials:
    """The DuckDB file, with a memory cap unless one is configured: DuckDB otherwise keeps
    up to 80% of RAM for a merge, and the sync's memory would grow with the warehouse."""
    credentials = DuckDbCredentials(database_path())
    configured = dlt.config.get("destination.duckdb.credentials.global_config") or {}
    credentials.global_config = {"memory_limit": DUCKDB_MEMORY_LIMIT, **dict(configured)}
    return credentials


def make_pipeline(source: str) -> Pipeline:
    """The dlt pipeline of one source; dlt's working folder honours DLT_DATA_DIR."""
    # Child rows are matched to their appointment's load; Arrow tables need this switched on.
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    return dlt.pipeline(
        pipeline_name=source,
        destination=dlt.destinations.duckdb(credentials=warehouse_credentials()),
        dataset_name=source,
    )


def build_source(source: str, **options: Any) -> Any:
    """The configured dlt source object (config is injected and checked here)."""
    if source == "pexip_engage":
        from pipelines.pexip_engage import pexip_engage

        return pexip_engage()
    if source == "valomnia":
        from pipelines.valomnia import valomnia

        return valomnia(reconcile=bool(options.get("reconcile", False)))
    raise ValueError(f"unknown source '{source}' (known: {', '.join(SOURCES)})")


def child_tables(source: str) -> list[str]:
    if source == "pexip_engage":
        from pipelines.pexip_engage import SPEC
    else:
        from pipelines.valomnia import SPEC
    return list(SPEC.child_columns)


def cursor_column(source: str) -> str:
    return "updated_at" if source == "pexip_engage" else "last_updated"


@contextmanager
def tuned_interpreter() -> Iterator[None]:
    """Two interpreter settings for the length of a sync, restored after.

    Parsing allocates millions of short-lived objects and no reference cycles; CPython's
    default thresholds then run the cycle collector over and over (it made page parsing
    2-4x slower in the benchmark). And page threads mostly wait on the network: a shorter
    switch interval lets them send their next request sooner while the main thread is
    busy flattening and loading (a small gain in the benchmark; see bench/README.md).
    """
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    gc.freeze()  # without a collect first: that alone costs ~50 ms after dlt's imports
    gc.set_threshold(100_000, 50, 100)
    sys.setswitchinterval(0.001)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def run_source(
    source: str,
    *,
    reconcile: bool = False,
    make_source: Callable[..., Any] = build_source,
) -> SyncResult:
    """Sync one source; never raises for a source failure, reports it instead."""
    started = time.monotonic()
    try:
        with tuned_interpreter():
            result = _sync(source, reconcile, make_source)
    except Exception as exc:  # one source failing must not stop the other
        logger.error("sync of %s failed: %s", source, exc)
        result = SyncResult(
            source, False, 0.0, error=redactor.redact(describe_failure(source, exc))
        )
    result.seconds = time.monotonic() - started
    return result


def _sync(source: str, reconcile: bool, make_source: Callable[..., Any]) -> SyncResult:
    pipeline = make_pipeline(source)
    dlt_source = make_source(source, reconcile=reconcile)
    if pipeline.has_pending_data:
        # dlt ignores new data while packages of an interrupted run are pending
        logger.warning("%s: loading the packages of an interrupted run first", source)
        pipeline.run()
        finish_load(pipeline, source)
    info = pipeline.run(dlt_source, loader_file_format=PARQUET)
    result = SyncResult(source, True, 0.0, rows=_row_counts(pipeline))
    result.load_ids = list(info.loads_ids) if isinstance(info, LoadInfo) else []
    result.stale_child_rows_removed, result.marked_deleted = finish_load(pipeline, source)
    return result


def describe_failure(source: str, exc: BaseException) -> str:
    """One line an operator can act on. dlt wraps step failures several times, so look
    through the chain for the error that explains it."""
    chain = list(_chain(exc))
    for error in chain:
        if isinstance(error, ConfigFieldMissingException):
            keys = ", ".join(f"sources.{source}.{f}" for f in error.fields)
            envs = ", ".join(env_name(f"sources.{source}.{f}") for f in error.fields)
            return f"missing config key {keys} (set it in .dlt/ or the environment: {envs})"
        if isinstance(error, ConfigValueCannotBeCoercedException):
            key = f"sources.{source}.{error.field_name}"
            hint = getattr(error.hint, "__name__", str(error.hint))
            return str(ConfigError(key, f"must be of type {hint}"))
        if isinstance(error, (ConfigError, ApiError, DriftError)):
            return f"{type(error).__name__}: {error}"
    innermost = chain[-1]
    text = str(innermost).strip()
    return f"{type(innermost).__name__}: {text.splitlines()[0] if text else ''}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None


def _row_counts(pipeline: Pipeline) -> dict[str, int]:
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace else None
    counts = dict(info.row_counts) if info else {}
    return {t: n for t, n in sorted(counts.items()) if not t.startswith("_dlt")}


def finish_load(pipeline: Pipeline, source: str) -> tuple[int, int]:
    """Remove child rows that belong to an older version of their appointment, and mark
    appointments a complete scan no longer returned. Idempotent, so a run killed between
    dlt's load and this step is finished by the next run."""
    dataset = pipeline.dataset_name
    with pipeline.sql_client() as client:
        existing = _tables(client, dataset)
        if PARENT_TABLE not in existing:
            return 0, 0
        cursor = cursor_column(source)
        removed = 0
        with client.begin_transaction():
            for child in child_tables(source):
                if child in existing:
                    removed += _delete_stale_children(client, dataset, child, cursor)
            marked = _mark_deleted(client, dataset) if SCAN_TABLE in existing else 0
        return removed, marked


def _tables(client: Any, dataset: str) -> set[str]:
    rows = client.execute_sql(
        "select table_name from information_schema.tables where table_schema = %s", dataset
    )
    return {r[0] for r in rows or []}


def _delete_stale_children(client: Any, dataset: str, child: str, cursor: str) -> int:
    """A child row is current only if it came with its appointment's current version."""
    where = f"""from "{dataset}"."{PARENT_TABLE}" p
        where p.id = c.appointment_id
          and (p._dlt_load_id <> c._dlt_load_id
               or p.{cursor} is distinct from c.{VERSION_COLUMN})"""
    # DuckDB answers a delete with the number of rows it removed
    deleted = client.execute_sql(
        f'delete from "{dataset}"."{child}" c where exists (select 1 {where})'
    )
    return int(deleted[0][0]) if deleted else 0


def _mark_deleted(client: Any, dataset: str) -> int:
    """Only when the newest load wrote a complete scan: windowed runs infer nothing."""
    scan_load = client.execute_sql(f'select max(_dlt_load_id) from "{dataset}"."{SCAN_TABLE}"')
    newest = client.execute_sql(
        f'select max(load_id) from "{dataset}"."_dlt_loads" where status = 0'
    )
    if not scan_load or not newest or scan_load[0][0] is None or scan_load[0][0] != newest[0][0]:
        return 0
    appointments = f'"{dataset}"."{PARENT_TABLE}"'
    scan = f'"{dataset}"."{SCAN_TABLE}"'
    missing = f"deleted_at is null and id not in (select id from {scan})"
    marked = client.execute_sql(
        f"update {appointments} set deleted_at = %s where {missing}", datetime.now(UTC)
    )
    client.execute_sql(
        f"update {appointments} set deleted_at = null "
        f"where deleted_at is not null and id in (select id from {scan})"
    )
    return int(marked[0][0]) if marked else 0
