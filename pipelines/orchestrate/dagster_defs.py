"""Dagster code location for apptsync: `dagster dev -m pipelines.orchestrate.dagster_defs`.

What it defines, all generated from what the project already knows (nothing listed twice):

* one asset per registered source (`pipelines.sources.SOURCES`), keyed by the source's name,
  which is also its dlt pipeline and dataset;
* the SQL models of `sql/` as one multi-asset with one asset per model
  (`staging/stg_…`, `reporting/fct_appointments`, …), their lineage read from
  `pipelines.models.discover()`;
* one asset check per audit file in `sql/audits/` (of the audit's severity: error, or warn
  for a `-- severity: warn` audit);
* one freshness check per source, against the config key `checks.max_age`, read from the
  run ledger `ops.sync_runs` as `apptsync check --max-age` reads it;
* the resource `run_lock`: apptsync's run lock, held for the whole Dagster run;
* the job `apptsync_sync` (everything) on a schedule, `apptsync.dagster.cron`
  (default every 15 minutes), and the job `apptsync_freshness` (the freshness checks alone)
  on the same schedule, so a source that keeps failing turns its freshness check red.

Why plain assets calling `run_source`, not dagster-dlt's `@dlt_assets`: `@dlt_assets` runs
`pipeline.run(source)` itself, one asset per dlt resource. apptsync's run is more than that:
it loads an interrupted run's pending packages first, replaces stale child rows and marks
deletions after the load (`finish_load`), turns dlt's wrapped exceptions into a one-line,
redacted error, and tunes the interpreter for parsing. Going around `run_source` would lose
all of it, and the raw tables of a source land together in one load anyway, so one asset
per source says what really happens. So dagster-dlt is not a dependency.

Why the models are one multi-asset: `build_models` replaces every view in one transaction,
so readers never see half a rebuild; views are cheap, so a partial rebuild buys nothing.

Why the in-process executor: DuckDB has one writer at a time, so steps in parallel
processes would only queue on the warehouse, and each process would import dlt and
Dagster again (seconds each).
"""

# No `from __future__ import annotations`: Dagster reads the `config: SyncConfig` annotation
# of an asset at definition time and cannot resolve it from a string.

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import dlt

from pipelines.config import ConfigError
from pipelines.load.pipeline import SyncResult, run_source
from pipelines.models import (
    SQL_DIR,
    Audit,
    AuditResult,
    Model,
    build_models,
    discover,
    discover_audits,
    open_sql_client,
    run_audits,
)
from pipelines.ops.freshness import MAX_AGE_KEY, configured_max_age, stale_sources
from pipelines.ops.ledger import last_ok_runs
from pipelines.ops.lock import current_run, run_lock
from pipelines.sources import SOURCES, SourceEntry
from pipelines.warehouse import require_warehouse

SOURCES_GROUP = "sources"
FRESHNESS_CHECK = "fresh"
"""Name of each source's freshness check."""
CRON_KEY = "apptsync.dagster.cron"
DEFAULT_CRON = "*/15 * * * *"
DEFAULT_MAX_AGE = timedelta(hours=1)
"""Used when `checks.max_age` is not set: four missed runs of the default schedule."""
SYNC_JOB = "apptsync_sync"
FRESHNESS_JOB = "apptsync_freshness"
WRITER_TAG = "apptsync/writer"
"""Run tag of the sync job; deploy/dagster.yaml limits runs with it to one at a time."""
LOCK_COMMAND = "dagster sync"
"""How a Dagster run names itself in the run lock and in the ledger's `command` column."""
RUN_LOCK = "run_lock"
"""Resource key of `RunLock`."""


class SyncConfig(dg.Config):
    """Run options of a source asset (set them in the launchpad or a schedule's run config)."""

    reconcile: bool = False
    """Page every id and mark deletions (only sources that support it; the others always do)."""


class RunLock(dg.ConfigurableResource):
    """apptsync's run lock (`pipelines.ops.lock`), held for a whole Dagster run.

    Why for the run and not per step: cron's `apptsync sync` must not slip in between the
    sources and the models, and the ledger gives every source of the run one `run_id`. The
    in-process executor sets resources up once per run; the lock is re-entrant, so
    `run_source` taking it again inside changes nothing. If another apptsync run holds it,
    the run fails at once naming the holder (as cron's exit 75), unless `wait_seconds` says
    to wait for it.
    """

    wait_seconds: float = 0.0

    @contextmanager
    def yield_for_execution(self, context: Any) -> Iterator["RunLock"]:
        with run_lock(LOCK_COMMAND, wait=self.wait_seconds):
            yield self


# keys


def source_key(source: str) -> dg.AssetKey:
    """A source's asset: its name, which is also its dlt dataset (schema of its raw tables)."""
    return dg.AssetKey([source])


def model_key(qualified_name: str) -> dg.AssetKey:
    """A model's asset: `reporting.fct_appointments` -> `reporting/fct_appointments`."""
    return dg.AssetKey(qualified_name.split("."))


def _source_keys(raw_tables: Iterable[str]) -> list[dg.AssetKey]:
    """The source assets behind raw-table references (`pexip_engage.appointments`). A table of
    another schema (written by apptsync itself, not by a source) has no asset."""
    schemas = {table.split(".")[0] for table in raw_tables}
    return [source_key(name) for name in SOURCES if name in schemas]


# sources


def source_asset(entry: SourceEntry) -> dg.AssetsDefinition:
    """The asset of one source: one `run_source` call. A failed sync fails the asset with the
    sync's one-line (redacted) error, and the cursor stays where it was."""

    @dg.asset(
        key=source_key(entry.name),
        group_name=SOURCES_GROUP,
        kinds={"dlt", "duckdb"},
        description=f"Raw tables of {entry.name} (dlt pipeline and dataset '{entry.name}').",
        required_resource_keys={RUN_LOCK},
    )
    def sync_source(context: dg.AssetExecutionContext, config: SyncConfig) -> dg.MaterializeResult:
        result = run_source(entry.name, reconcile=config.reconcile)
        if not result.ok:
            raise dg.Failure(
                description=f"{entry.name}: {result.error}",
                metadata={"seconds": round(result.seconds, 2)},
                allow_retries=False,
            )
        context.log.info("%s: ok in %.1fs, rows %s", entry.name, result.seconds, result.rows)
        return dg.MaterializeResult(metadata=sync_metadata(result))

    return sync_source


def sync_metadata(result: SyncResult) -> dict[str, int | float | str]:
    """What a sync did, shown on the materialization: rows written per table and the clean-up."""
    metadata: dict[str, int | float | str] = {
        f"rows_{table}": count for table, count in result.rows.items() if not table.startswith("_")
    }
    metadata["rows_loaded"] = result.rows.get("appointments", 0)
    metadata["quarantined"] = result.rows.get("_quarantine", 0)
    metadata["stale_child_rows_removed"] = result.stale_child_rows_removed
    metadata["marked_deleted"] = result.marked_deleted
    metadata["seconds"] = round(result.seconds, 2)
    metadata["load_ids"] = ", ".join(result.load_ids)
    run = current_run()
    if run is not None:
        metadata["ledger_run_id"] = run.run_id  # its rows in ops.sync_runs
    return metadata


# models


def model_specs(models: Sequence[Model], sql_dir: Path = SQL_DIR) -> list[dg.AssetSpec]:
    """One spec per model; its deps are the models and the sources its SQL reads."""
    return [
        dg.AssetSpec(
            key=model_key(model.qualified_name),
            deps=[model_key(name) for name in model.depends_on] + _source_keys(model.sources),
            description=model.description or None,
            group_name=model.schema,
            kinds={"sql", "duckdb"},
            metadata={"path": _relative(model.path, sql_dir)},
        )
        for model in models
    ]


def models_asset(models: Sequence[Model]) -> dg.AssetsDefinition:
    """Every model as one multi-asset: `build_models` replaces all views in one transaction."""

    @dg.multi_asset(
        name="sql_models",
        specs=model_specs(models),
        can_subset=False,
        required_resource_keys={RUN_LOCK},
    )
    def sql_models(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
        with open_sql_client() as client:
            built = build_models(client)
        context.log.info("built %d views", len(built))
        for name in built:
            yield dg.MaterializeResult(asset_key=model_key(name))

    return sql_models


# audits


def audit_target(audit: Audit, models: Sequence[Model]) -> dg.AssetKey:
    """The asset an audit checks: the most downstream model it reads, else the first source."""
    order = {model.qualified_name: index for index, model in enumerate(models)}
    read_models = [name for name in audit.depends_on if name in order]
    if read_models:
        return model_key(max(read_models, key=order.__getitem__))
    sources = _source_keys(audit.sources)
    if sources:
        return sources[0]
    raise ValueError(f"audit {audit.name} reads neither a model nor a source table")


def audit_specs(audits: Sequence[Audit], models: Sequence[Model]) -> list[dg.AssetCheckSpec]:
    """One check per audit file, on its target asset; what else it reads is an extra dep."""
    specs = []
    for audit in audits:
        target = audit_target(audit, models)
        reads = [model_key(name) for name in audit.depends_on] + _source_keys(audit.sources)
        specs.append(
            dg.AssetCheckSpec(
                audit.name,
                asset=target,
                description=audit.description or None,
                additional_deps=[key for key in reads if key != target],
            )
        )
    return specs


def audits_check(audits: Sequence[Audit], models: Sequence[Model]) -> dg.AssetChecksDefinition:
    """The audits in one pass over the warehouse (`run_audits`), one result per audit file.
    A failing audit fails its check with the audit's severity and shows sample rows."""
    specs = audit_specs(audits, models)
    targets = {spec.name: spec.asset_key for spec in specs}

    # No run lock of its own: audits only read (as `apptsync check`); in the sync job they
    # run inside the run's lock anyway.
    @dg.multi_asset_check(name="sql_audits", specs=specs, can_subset=True)
    def sql_audits(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        selected = {key.name for key in context.selected_asset_check_keys}
        require_warehouse()
        with open_sql_client() as client:
            results = run_audits(client)
        for result in results:
            if result.name in selected:
                yield audit_result(result, targets[result.name])

    return sql_audits


def audit_result(result: AuditResult, target: dg.AssetKey) -> dg.AssetCheckResult:
    metadata: dict[str, int | str | dg.MetadataValue] = {"failing_rows": result.failing_count}
    if result.sample_rows:
        metadata["sample"] = dg.MetadataValue.md(_markdown_table(result))
    return dg.AssetCheckResult(
        check_name=result.name,
        asset_key=target,
        passed=result.passed,
        severity=dg.AssetCheckSeverity.WARN
        if result.severity == "warn"
        else dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
    )


def _markdown_table(result: AuditResult) -> str:
    lines = ["| " + " | ".join(result.columns) + " |", "|" + "---|" * len(result.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in result.sample_rows]
    return "\n".join(lines)


# freshness


def max_age() -> timedelta:
    """`checks.max_age` (environment `CHECKS__MAX_AGE`), as `apptsync check` reads it; Dagster
    needs a threshold, so `DEFAULT_MAX_AGE` when it is not set."""
    return configured_max_age() or DEFAULT_MAX_AGE


def freshness_check(entry: SourceEntry) -> dg.AssetChecksDefinition:
    """Fails (severity error) when the source's last ok run is older than `checks.max_age`,
    or when it never had one: the rule of `apptsync check --max-age`, read from the run
    ledger (`ops.sync_runs`), not from Dagster's event log, so a sync run by cron counts too."""

    @dg.asset_check(
        asset=source_key(entry.name),
        name=FRESHNESS_CHECK,
        description=f"The last ok sync of {entry.name} is at most `{MAX_AGE_KEY}` old.",
    )
    def fresh() -> dg.AssetCheckResult:
        limit = max_age()
        stale = stale_sources([entry.name], limit)
        last = last_ok_runs([entry.name])[entry.name]
        metadata: dict[str, float | str] = {
            "max_age_seconds": limit.total_seconds(),
            "last_ok_sync": last.isoformat() if last else "never",
        }
        if last is not None:
            metadata["age_seconds"] = round((datetime.now(UTC) - last).total_seconds(), 1)
        description = stale[0].describe(limit) if stale else None
        return dg.AssetCheckResult(passed=not stale, metadata=metadata, description=description)

    return fresh


# the code location


def schedule_cron() -> str:
    return str(dlt.config.get(CRON_KEY) or DEFAULT_CRON)


def build_definitions(sql_dir: Path = SQL_DIR) -> dg.Definitions:
    """Everything above, from the registry of sources and the SQL folder."""
    models, audits = discover(sql_dir), discover_audits(sql_dir)
    sources = [source_asset(entry) for entry in SOURCES.values()]
    freshness = [freshness_check(entry) for entry in SOURCES.values()]
    sync_job = dg.define_asset_job(
        SYNC_JOB, selection=dg.AssetSelection.all(), tags={WRITER_TAG: "true"}
    )
    freshness_job = dg.define_asset_job(
        FRESHNESS_JOB, selection=dg.AssetSelection.checks(*freshness)
    )
    cron = schedule_cron()
    try:
        schedules = [
            dg.ScheduleDefinition(job=job, cron_schedule=cron, execution_timezone="UTC")
            for job in (sync_job, freshness_job)
        ]
    except dg.DagsterInvalidDefinitionError:
        raise ConfigError(CRON_KEY, f"must be a cron expression, got {cron!r}") from None
    return dg.Definitions(
        assets=[*sources, models_asset(models)],
        asset_checks=[audits_check(audits, models), *freshness],
        jobs=[sync_job, freshness_job],
        schedules=schedules,
        resources={RUN_LOCK: RunLock()},
        executor=dg.in_process_executor,
    )


def _relative(path: Path, sql_dir: Path) -> str:
    try:
        return str(path.relative_to(sql_dir.parent))
    except ValueError:
        return str(path)


defs = build_definitions()
