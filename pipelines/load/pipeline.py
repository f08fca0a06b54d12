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
from typing import Any

import dlt
from dlt.common.configuration.exceptions import (
    ConfigFieldMissingException,
    ConfigValueCannotBeCoercedException,
)
from dlt.common.pipeline import LoadInfo
from dlt.pipeline.pipeline import Pipeline

from pipelines.config import ConfigError, env_name, warn_unknown_keys
from pipelines.destinations import configured_destination
from pipelines.extract.http import ApiError
from pipelines.extract.metrics import RunMetrics, collecting
from pipelines.extract.resource import DriftError
from pipelines.load.cleanup import finish_load
from pipelines.load.working_folder import WorkingFolderTaken, claim_working_folder
from pipelines.ops import ledger
from pipelines.ops.lock import run_lock
from pipelines.ops.status import pipeline_cursor
from pipelines.redaction import get_logger, redactor
from pipelines.sources import SourceEntry, get_source

logger = get_logger("apptsync.sync")

NO_COMPRESSION = "normalize.data_writer.disable_compression"


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
    config_error: bool = False
    """The failure is a setting to fix, not an outage (the command line exits 2)."""


def make_pipeline(source: str) -> Pipeline:
    """The dlt pipeline of one source, into the configured destination; dlt's working folder
    honours DLT_DATA_DIR."""
    # Child rows are matched to their appointment's load; Arrow tables need this switched on.
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    # dlt gzips the text files it hands the loader (jsonl, csv, SQL): two thirds of the
    # normalize step's CPU, for files that are loaded from this disk and deleted at once
    if dlt.config.get(NO_COMPRESSION) is None:
        dlt.config[NO_COMPRESSION] = True
    return dlt.pipeline(
        pipeline_name=source,
        destination=configured_destination().dlt_destination(),
        dataset_name=source,
    )


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
    full_scan: bool = False,
    make_source: Callable[..., Any] | None = None,
    metrics: RunMetrics | None = None,
) -> SyncResult:
    """Sync one source under the run lock, counting what it does into `metrics` (a progress
    display may watch them), and write its row of the run ledger (`ops.sync_runs`), failed
    or not. Raises `LockHeld` when another process holds the lock; a source failure is
    reported in the result, never raised."""
    metrics = metrics or RunMetrics(source)
    with run_lock("sync") as run, collecting(metrics):
        started, before = ledger.now(), pipeline_cursor(source)
        try:
            result = _run_source(
                source, reconcile=reconcile, full_scan=full_scan, make_source=make_source
            )
        except KeyboardInterrupt:  # Ctrl-C or SIGINT (dlt's own signal error is one too)
            seconds = time.monotonic() - metrics.started
            stopped = SyncResult(source, False, seconds, error="interrupted")
            after = pipeline_cursor(source)
            ledger.record(ledger.row_for(run, stopped, metrics, started, before, after))
            raise
        after = pipeline_cursor(source)
        ledger.record(ledger.row_for(run, result, metrics, started, before, after))
    return result


def _run_source(
    source: str,
    *,
    reconcile: bool = False,
    full_scan: bool = False,
    make_source: Callable[..., Any] | None = None,
) -> SyncResult:
    """Sync one source; never raises for a source failure, reports it instead.

    `reconcile` is passed on only to a source that supports it; `make_source(**options)`
    replaces the registered factory (tests use it to build a source with other settings)."""
    started = time.monotonic()
    try:
        entry = get_source(source)
        warn_unknown_keys(entry.config_section, entry.config_keys)
        wanted = {"reconcile": reconcile, "full_scan": full_scan}
        options = {k: True for k, on in wanted.items() if on and k in entry.run_options}
        pipeline = make_pipeline(source)
        claim_working_folder(pipeline)  # before the source exists: no request yet
        with tuned_interpreter():
            result = _sync(entry, pipeline, (make_source or entry.build)(**options))
    except Exception as exc:  # one source failing must not stop the other
        if any(isinstance(error, KeyboardInterrupt) for error in _chain(exc)):
            raise KeyboardInterrupt from exc  # dlt wraps Ctrl-C in its step failure
        # the one-line reason is the result's; dlt's whole chain only with -v
        logger.debug("sync of %s failed", source, exc_info=True)
        result = SyncResult(
            source, False, 0.0, error=redactor.redact(describe_failure(source, exc))
        )
        result.config_error = is_config_failure(exc)
    result.seconds = time.monotonic() - started
    return result


def _sync(entry: SourceEntry, pipeline: Pipeline, dlt_source: Any) -> SyncResult:
    source = entry.name
    if pipeline.has_pending_data:
        # dlt ignores new data while packages of an interrupted run are pending
        logger.warning("%s: loading the packages of an interrupted run first", source)
        pipeline.run()
        finish_load(pipeline, entry)
        _after_load(pipeline, entry)
    info = pipeline.run(dlt_source, loader_file_format=configured_destination().loader_file_format)
    result = SyncResult(source, True, 0.0, rows=_row_counts(pipeline))
    result.load_ids = list(info.loads_ids) if isinstance(info, LoadInfo) else []
    result.stale_child_rows_removed, result.marked_deleted = finish_load(pipeline, entry)
    result.marked_deleted += _after_load(pipeline, entry)
    return result


def _after_load(pipeline: Pipeline, entry: SourceEntry) -> int:
    return entry.after_load(pipeline, entry.name) if entry.after_load is not None else 0


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


def is_config_failure(exc: BaseException) -> bool:
    """Whether a setting caused it (missing, malformed, out of range): exit code 2."""
    config_errors = (
        ConfigError,
        ConfigFieldMissingException,
        ConfigValueCannotBeCoercedException,
        WorkingFolderTaken,
    )
    return any(isinstance(error, config_errors) for error in _chain(exc))


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
