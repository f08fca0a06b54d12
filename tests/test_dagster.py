"""The Dagster code location, materialized in-process against the simulator.

Real parts: the assets call the same `run_source`/`build_models`/`run_audits` as the CLI,
over real HTTP to the simulator, into this test's DuckDB file; Dagster runs them with an
ephemeral instance. Skipped when the `dagster` extra is not installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

dg = pytest.importorskip(
    "dagster", reason="the dagster extra is not installed (pip install -e '.[dagster]')"
)

from pipelines.models import discover, discover_audits  # noqa: E402
from pipelines.orchestrate import dagster_defs as location  # noqa: E402
from pipelines.simulator import Simulator  # noqa: E402
from pipelines.sources import SOURCES  # noqa: E402
from tests.cli_helpers import start_apptsync  # noqa: E402
from tests.holder_helpers import HeldRequest  # noqa: E402
from tests.utils import rows, scalar  # noqa: E402

HOLD = {"SOURCES__PEXIP_ENGAGE__TIMEOUT_SECONDS": "600"}  # the held answer is no timeout

AUDITS = sorted(audit.name for audit in discover_audits())


@pytest.fixture
def both(pexip: Simulator, valomnia: Simulator) -> Simulator:
    return pexip  # one simulator serves both APIs


def materialize(selection: Any = None) -> Any:
    """Every asset and check of the code location, in-process, as the schedule's job runs."""
    return dg.materialize(
        [*(location.defs.assets or []), *(location.defs.asset_checks or [])],
        instance=dg.DagsterInstance.ephemeral(),
        resources=location.defs.resources,
        raise_on_error=False,
        selection=selection,
    )


def audits_alone() -> Any:
    """The audit checks without their assets: `run_audits` over the warehouse as it is."""
    audits = [c for c in location.defs.asset_checks or [] if c.node_def.name == "sql_audits"]
    return dg.AssetSelection.checks(*audits)


def freshness_alone() -> Any:
    """The schedule's freshness job: the freshness checks alone, nothing synced."""
    job = location.defs.resolve_job_def(location.FRESHNESS_JOB)
    return job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def check_outcomes(result: Any) -> dict[str, bool]:
    """`check name` (freshness checks as `source:fresh`) -> passed."""
    outcomes = {}
    for evaluation in result.get_asset_check_evaluations():
        name = evaluation.check_name
        if name == location.FRESHNESS_CHECK:
            name = f"{evaluation.asset_key.to_user_string()}:{name}"
        outcomes[name] = evaluation.passed
    return outcomes


def source_metadata(result: Any, name: str) -> dict[str, Any]:
    """`name` per source, from the source assets' materialization metadata."""
    found = {}
    for event in result.get_asset_materialization_events():
        key = event.materialization.asset_key.to_user_string()
        if key in SOURCES:
            found[key] = event.materialization.metadata[name].value
    return found


def rows_loaded(result: Any) -> dict[str, int]:
    """Appointments written per source, as the materializations report them."""
    return source_metadata(result, "rows_loaded")


def ledger(warehouse: Path, run_id: str) -> dict[str, tuple[Any, ...]]:
    """The run's rows of ops.sync_runs: source -> (outcome, rows_loaded, command)."""
    found = rows(
        warehouse,
        "select source, outcome, rows_loaded, command from ops.sync_runs where run_id = ?",
        run_id,
    )
    return {row[0]: row[1:] for row in found}


def raw_appointments(warehouse: Path) -> dict[str, int]:
    return {
        name: scalar(warehouse, f"select count(*) from {name}.appointments") for name in SOURCES
    }


def test_a_first_materialization_lands_everything_and_a_second_only_the_changes(
    both: Simulator, warehouse: Path
):
    first = materialize()

    assert first.success
    expected = {"pexip_engage": both.pexip.count(), "valomnia": both.valomnia.count()}
    assert raw_appointments(warehouse) == expected
    assert rows_loaded(first) == expected
    per_source = rows(
        warehouse, "select source, count(*) from reporting.fct_appointments group by 1"
    )
    assert dict(per_source) == expected
    daily = rows(
        warehouse,
        "select source, sum(appointment_count) from reporting.rpt_daily_appointments group by 1",
    )
    not_deleted = rows(
        warehouse,
        "select source, count(*) from reporting.fct_appointments where not is_deleted group by 1",
    )
    assert dict(daily) == dict(not_deleted) and len(daily) == len(SOURCES)
    materialized = {event.asset_key for event in first.get_asset_materialization_events()}
    assert materialized == {location.source_key(name) for name in SOURCES} | {
        location.model_key(model.qualified_name) for model in discover()
    }
    assert check_outcomes(first) == {
        **dict.fromkeys(AUDITS, True),
        **{f"{name}:fresh": True for name in SOURCES},
    }
    (run_id,) = set(source_metadata(first, "ledger_run_id").values())  # one run, one lock
    assert ledger(warehouse, run_id) == {
        name: ("ok", count, location.LOCK_COMMAND) for name, count in expected.items()
    }

    both.pexip.update(both.pexip.ids()[::100][:3])
    both.valomnia.tick(5)
    both.valomnia.update(both.valomnia.ids()[::50][:4])
    second = materialize()

    assert second.success
    assert rows_loaded(second) == {"pexip_engage": 3, "valomnia": 4}
    (second_run,) = set(source_metadata(second, "ledger_run_id").values())
    assert second_run != run_id
    assert {name: row[1] for name, row in ledger(warehouse, second_run).items()} == {
        "pexip_engage": 3,
        "valomnia": 4,
    }
    assert raw_appointments(warehouse) == expected
    assert scalar(
        warehouse,
        "select count(*) = count(distinct appointment_key) from reporting.fct_appointments",
    )
    assert all(check_outcomes(second).values())


def test_a_failing_source_fails_its_asset_and_the_other_source_still_lands(
    both: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SOURCES__PEXIP_ENGAGE__CLIENT_SECRET", "not-the-secret")

    result = materialize()

    assert not result.success
    failed = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    assert [event.step_key for event in failed] == ["pexip_engage"]
    message = failed[0].event_specific_data.error.message
    assert "AuthError" in message and "not-the-secret" not in message
    assert scalar(warehouse, "select count(*) from valomnia.appointments") == both.valomnia.count()
    assert check_outcomes(result)["valomnia:fresh"] is True
    outcomes = rows(warehouse, "select source, outcome, error from ops.sync_runs order by 1")
    assert [row[:2] for row in outcomes] == [("pexip_engage", "failed"), ("valomnia", "ok")]
    assert "AuthError" in outcomes[0][2] and "not-the-secret" not in outcomes[0][2]


def test_a_failing_audit_fails_its_check_with_the_audit_s_severity(
    both: Simulator, warehouse: Path
):
    assert materialize().success
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            'update pexip_engage.appointments set "end" = start - interval 1 hour '
            "where id = (select min(id) from pexip_engage.appointments where start is not null)"
        )
        con.execute(
            "update valomnia.appointments set done = null "
            "where id = (select min(id) from valomnia.appointments)"
        )

    checks = materialize(selection=audits_alone())

    evaluations = {e.check_name: e for e in checks.get_asset_check_evaluations()}
    assert sorted(evaluations) == AUDITS  # the audits alone, nothing synced again
    failed = {name: e for name, e in evaluations.items() if not e.passed}
    assert sorted(failed) == ["assert_ends_at_not_before_starts_at", "assert_status_in_vocabulary"]
    # `-- severity: warn` in the audit's header
    assert failed["assert_ends_at_not_before_starts_at"].severity == dg.AssetCheckSeverity.WARN
    assert failed["assert_status_in_vocabulary"].severity == dg.AssetCheckSeverity.ERROR
    assert failed["assert_status_in_vocabulary"].metadata["failing_rows"].value == 1


def test_freshness_fails_for_a_source_that_never_synced_or_synced_too_long_ago(
    both: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CHECKS__MAX_AGE", "2h")
    never = check_outcomes(freshness_alone())
    assert never == {f"{name}:fresh": False for name in SOURCES}
    assert not warehouse.exists()  # a check never creates the warehouse

    assert materialize().success
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update ops.sync_runs set finished_at = finished_at - interval 3 hour "
            "where source = 'pexip_engage'"
        )

    outcomes = check_outcomes(freshness_alone())

    assert outcomes == {"pexip_engage:fresh": False, "valomnia:fresh": True}


def test_a_materialization_while_a_cron_sync_holds_the_lock_fails_naming_it(
    both: Simulator, isolated_env: Path, warehouse: Path
):
    held = HeldRequest(both, "pexip")
    cron = start_apptsync("sync", "--no-models", folder=isolated_env, name="cron", **HOLD)
    try:
        held.wait_for_request()

        result = materialize()
    finally:
        held.release()
    assert cron.wait() == 0

    assert not result.success
    assert not result.get_asset_materialization_events()  # nothing ran beside the holder
    (failure,) = [e for e in result.all_events if e.event_type_value == "RESOURCE_INIT_FAILURE"]
    message = failure.event_specific_data.error.message
    assert f"another apptsync sync is running (PID {cron.pid}, since " in message
    assert scalar(warehouse, "select count(distinct run_id) from ops.sync_runs") == 1


def test_the_code_location_loads_with_its_jobs_on_the_crontabs_schedule():
    dg.Definitions.validate_loadable(location.defs)
    crontab = Path(__file__).parents[1] / "deploy" / "crontab.example"
    line = next(x for x in crontab.read_text().splitlines() if x and not x.startswith("#"))

    schedules = {s.job_name: s.cron_schedule for s in location.defs.schedules or []}

    cron = " ".join(line.split()[:5])
    assert schedules == {location.SYNC_JOB: cron, location.FRESHNESS_JOB: cron}


def test_a_schedule_that_is_not_cron_is_refused_naming_its_key(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("APPTSYNC__DAGSTER__CRON", "every quarter hour")

    with pytest.raises(location.ConfigError, match="APPTSYNC__DAGSTER__CRON"):
        location.build_definitions()


def test_the_shipped_dagster_yaml_queues_sync_runs_one_at_a_time_and_keeps_apptsync_logs(
    tmp_path: Path,
):
    shipped = Path(__file__).parents[1] / "deploy" / "dagster.yaml"
    (tmp_path / "dagster.yaml").write_text(shipped.read_text())

    instance = dg.DagsterInstance.from_config(str(tmp_path))

    limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert limits == [{"key": location.WRITER_TAG, "limit": 1}]
    assert instance.telemetry_enabled is False
    assert instance.managed_python_loggers == ["apptsync"]
    job = location.defs.resolve_job_def(location.SYNC_JOB)
    assert job.tags[location.WRITER_TAG] == "true"
