"""Dagster code location for apptsync: `dagster dev -m pipelines.orchestrate.dagster_defs`.

What it defines, all generated from what the project already knows (nothing listed twice):

* one asset per registered source (`pipelines.sources.SOURCES`), keyed by the source's name,
  which is also its dlt pipeline and dataset;
* the SQL models of `sql/` as one multi-asset with one asset per model
  (`staging/stg_…`, `reporting/fct_appointments`, …), their lineage read from
  `pipelines.models.discover()`;
* one asset check per audit file in `sql/audits/` (severity error);
* one freshness check per source, against the config key `checks.max_age`;
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

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation

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
from pipelines.sources import SOURCES, SourceEntry
from pipelines.warehouse import database_path, require_warehouse

SOURCES_GROUP = "sources"
FRESHNESS_CHECK = "fresh"
"""Name of each source's freshness check."""
CRON_KEY = "apptsync.dagster.cron"
DEFAULT_CRON = "*/15 * * * *"
MAX_AGE_KEY = "checks.max_age"
DEFAULT_MAX_AGE = timedelta(hours=1)
"""Used when `checks.max_age` is not set: four missed runs of the default schedule."""
SYNC_JOB = "apptsync_sync"
FRESHNESS_JOB = "apptsync_freshness"
WRITER_TAG = "apptsync/writer"
"""Run tag of the sync job; deploy/dagster.yaml limits runs with it to one at a time."""


class SyncConfig(dg.Config):
    """Run options of a source asset (set them in the launchpad or a schedule's run config)."""

    reconcile: bool = False
    """Page every id and mark deletions (only sources that support it; the others always do)."""


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

    @dg.multi_asset(name="sql_models", specs=model_specs(models), can_subset=False)
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
    A failing audit fails its check with severity error and shows sample rows."""
    specs = audit_specs(audits, models)
    targets = {spec.name: spec.asset_key for spec in specs}

    @dg.multi_asset_check(name="sql_audits", specs=specs, can_subset=True)
    def sql_audits(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        selected = {key.name for key in context.selected_asset_check_keys}
        with open_sql_client(require_warehouse()) as client:
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
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
    )


def _markdown_table(result: AuditResult) -> str:
    lines = ["| " + " | ".join(result.columns) + " |", "|" + "---|" * len(result.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in result.sample_rows]
    return "\n".join(lines)


# freshness


def max_age() -> timedelta:
    """`checks.max_age` (environment `CHECKS__MAX_AGE`): `30m`, `2h`, `1d`, `90s` or seconds."""
    value: object = dlt.config.get(MAX_AGE_KEY)
    if value is None or value == "":
        return DEFAULT_MAX_AGE
    return parse_duration(MAX_AGE_KEY, value)


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(key: str, value: object) -> timedelta:
    """`30m`, `2h`, `1d`, `90s` or a plain number of seconds; anything else names the key."""
    match = _DURATION.match(str(value).strip().lower())
    seconds = float(match[1]) * _UNIT_SECONDS[match[2]] if match else 0.0
    if not 0 < seconds <= 366 * 86400:
        raise ConfigError(key, f"must be a duration such as 30m, 2h or 1d, got {value!r}")
    return timedelta(seconds=seconds)


def last_ok_sync(source: str) -> datetime | None:
    """When the source last loaded completely: dlt's `_dlt_loads` of its dataset. A missing
    warehouse means never (and is not created: only a sync creates it)."""
    if not Path(database_path()).exists():
        return None
    with open_sql_client(dataset_name=source) as client:
        table = client.make_qualified_table_name("_dlt_loads")
        try:
            rows = client.execute_sql(f"select max(inserted_at) from {table} where status = 0")
        except DatabaseUndefinedRelation:
            return None
    value = rows[0][0] if rows else None
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def freshness_check(entry: SourceEntry) -> dg.AssetChecksDefinition:
    """Fails (severity error) when the source's last ok sync is older than `checks.max_age`,
    or when it never synced. It reads the warehouse, not Dagster's event log, so a sync run
    by cron or by hand counts too."""

    @dg.asset_check(
        asset=source_key(entry.name),
        name=FRESHNESS_CHECK,
        description=f"The last ok sync of {entry.name} is at most `{MAX_AGE_KEY}` old.",
    )
    def fresh() -> dg.AssetCheckResult:
        limit, last = max_age(), last_ok_sync(entry.name)
        metadata: dict[str, float | str] = {"max_age_seconds": limit.total_seconds()}
        if last is None:
            metadata["last_ok_sync"] = "never"
            return dg.AssetCheckResult(passed=False, metadata=metadata)
        age = datetime.now(UTC) - last
        metadata["last_ok_sync"] = last.isoformat()
        metadata["age_seconds"] = round(age.total_seconds(), 1)
        return dg.AssetCheckResult(passed=age <= limit, metadata=metadata)

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
        executor=dg.in_process_executor,
    )


def _relative(path: Path, sql_dir: Path) -> str:
    try:
        return str(path.relative_to(sql_dir.parent))
    except ValueError:
        return str(path)


defs = build_definitions()
