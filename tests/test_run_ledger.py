"""The run ledger `ops.sync_runs`, what reads it (status, check --max-age, rpt_sync_health),
the progress line and JSON logs."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipelines.cli import main
from pipelines.ops import ledger
from pipelines.simulator import Simulator
from tests.cli_helpers import apptsync, run_on_terminal, start_apptsync, wait_until
from tests.holder_helpers import HeldRequest
from tests.utils import configure_source, rows, scalar

SECRET_FILTER = {"office-id": ["pexip-secret"]}  # the client secret, pasted into a filter


@pytest.fixture
def both(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    configure_source("pexip_engage", simulator, monkeypatch)
    configure_source("valomnia", simulator, monkeypatch)
    return simulator


def newest(warehouse: Path, source: str) -> dict[str, Any]:
    return ledger.last_runs(source, limit=1, database=str(warehouse))[0]


def test_an_ok_run_records_what_the_api_reported_what_the_scan_saw_and_what_landed(
    both: Simulator, warehouse: Path
):
    both.faults("pexip").script(503)  # one retry

    assert main(["sync", "--no-models", "--source", "pexip_engage"]) == 0

    run = newest(warehouse, "pexip_engage")
    newest_cursor = scalar(warehouse, "select max(updated_at) from pexip_engage.appointments")
    expected = {
        "source": "pexip_engage",
        "outcome": "ok",
        "rows_loaded": 300,
        "api_total": 300,
        "ids_seen": 300,
        "quarantined": 0,
        "marked_deleted": 0,
        "stale_child_rows_removed": 0,
        "requests": both.request_count("pexip"),
        "retries": 1,
        "drift_passes": 0,
        "cursor_before": None,
        "cursor_after": newest_cursor.isoformat(),
        "error": None,
        "note": None,
        "command": "sync",
    }
    assert {key: run[key] for key in expected} == expected
    assert run["requests"] == 12 + 1  # 300 records in pages of 25, one answered 503 first
    assert run["started_at"] <= run["finished_at"]

    both.pexip.update(both.pexip.ids()[:3])
    assert main(["sync", "--no-models", "--source", "pexip_engage"]) == 0
    second = newest(warehouse, "pexip_engage")
    assert second["run_id"] != run["run_id"]
    assert (second["rows_loaded"], second["cursor_before"]) == (3, run["cursor_after"])


def test_a_quarantining_run_counts_the_records_and_says_the_ids_disagree_with_the_total(
    both: Simulator, warehouse: Path
):
    ids = both.pexip.ids()
    both.pexip.update([ids[1]], drop=("id",))
    both.pexip.update([ids[2]], updatedAt="not-a-date")

    assert main(["sync", "--no-models", "--source", "pexip_engage"]) == 0

    run = newest(warehouse, "pexip_engage")
    assert (run["outcome"], run["rows_loaded"], run["quarantined"]) == ("ok", 298, 2)
    assert (run["api_total"], run["ids_seen"]) == (300, 299)
    assert run["note"] == (
        "the scan saw 299 distinct ids, the API reported 300 "
        "(records without an id are quarantined, not counted as ids)"
    )


def test_a_failed_run_is_recorded_with_its_redacted_error_and_an_unmoved_cursor(
    both: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    assert main(["sync", "--no-models", "--source", "pexip_engage"]) == 0
    before = newest(warehouse, "pexip_engage")["cursor_after"]
    monkeypatch.setenv("SOURCES__PEXIP_ENGAGE__FILTERS", json.dumps(SECRET_FILTER))
    both.faults("pexip").script(400)

    assert main(["sync", "--no-models", "--source", "pexip_engage"]) == 1

    run = newest(warehouse, "pexip_engage")
    assert (run["outcome"], run["rows_loaded"], run["quarantined"]) == ("failed", 0, 0)
    assert (run["cursor_before"], run["cursor_after"]) == (before, before)
    page = f"{both.url}/enterprises/acme/appointments?office-id[]=***"
    assert run["error"].startswith(f"ApiError: GET {page}")
    assert "status 400" in run["error"]
    assert both.pexip.client_secret not in str(rows(warehouse, "select * from ops.sync_runs"))


def test_a_configuration_error_is_recorded_as_a_failed_run(
    both: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SOURCES__VALOMNIA__PAGE_SIZE", "0")

    assert main(["sync", "--no-models"]) == 2

    run = newest(warehouse, "valomnia")
    assert (run["outcome"], run["requests"], run["api_total"]) == ("failed", 0, None)
    assert "SOURCES__VALOMNIA__PAGE_SIZE" in run["error"]
    assert newest(warehouse, "pexip_engage")["outcome"] == "ok"


def test_ledger_columns_are_the_row_fields():
    from dataclasses import fields

    assert [f.name for f in fields(ledger.LedgerRow)] == list(ledger.COLUMN_TYPES)


# what reads the ledger


def _old_ok_run(warehouse: Path, source: str, age: timedelta) -> None:
    """A ledger row as an earlier run would have written it, `age` ago."""
    finished = datetime.now(UTC) - age
    row = ledger.LedgerRow(
        run_id=f"old-{source}", source=source, started_at=finished - timedelta(seconds=5),
        finished_at=finished, outcome="ok", rows_loaded=10, api_total=10, ids_seen=10,
        quarantined=4, marked_deleted=0, stale_child_rows_removed=0, requests=1, retries=0,
        drift_passes=0, seconds=5.0, cursor_before=None, cursor_after=None, error=None,
        note=None, command="sync", pid=1,
    )  # fmt: skip
    assert ledger.record(row, str(warehouse))


def test_check_max_age_names_every_source_older_than_allowed_and_still_runs_the_audits(
    both: Simulator, warehouse: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["sync", "--source", "valomnia"]) == 0
    capsys.readouterr()

    assert main(["check", "--max-age", "30m"]) == 1
    out = capsys.readouterr().out
    assert "All 5 audits passed." in out
    assert "STALE pexip_engage: no ok run in the ledger (max age 30m00s)" in out
    assert "valomnia" not in out

    _old_ok_run(warehouse, "pexip_engage", timedelta(hours=2))
    assert main(["check", "--max-age", "1h30m"]) == 1
    assert "STALE pexip_engage: last ok run 2h00m ago" in capsys.readouterr().out
    assert main(["check", "--max-age", "3h"]) == 0


def test_check_reads_max_age_from_config(
    both: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    assert main(["sync"]) == 0
    monkeypatch.setenv("CHECKS__MAX_AGE", "1h")
    assert main(["check"]) == 0
    _old_ok_run(warehouse, "valomnia", timedelta(hours=3))  # not the newest: still fresh
    assert main(["check"]) == 0
    monkeypatch.setenv("CHECKS__MAX_AGE", "soon")
    assert main(["check"]) == 2


def test_status_json_is_one_document_with_cursor_runs_packages_and_counts(
    both: Simulator, warehouse: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["sync", "--no-models"]) == 0
    capsys.readouterr()

    assert main(["status", "--json"]) == 0

    document = json.loads(capsys.readouterr().out)
    assert document["running"] is None
    assert set(document["sources"]) == {"pexip_engage", "valomnia"}
    pexip = document["sources"]["pexip_engage"]
    assert pexip["cursor_field"] == "updatedAt"
    assert pexip["cursor"] == newest(warehouse, "pexip_engage")["cursor_after"]
    assert pexip["pending_packages"] == 0
    assert pexip["row_counts"]["appointments"] == 300
    assert [(r["outcome"], r["rows_loaded"]) for r in pexip["last_runs"]] == [("ok", 300)]
    assert document["sources"]["valomnia"]["last_runs"][0]["api_total"] == 300


def test_status_shows_the_last_runs(both: Simulator, capsys: pytest.CaptureFixture[str]):
    assert main(["sync", "--no-models", "--source", "valomnia"]) == 0
    capsys.readouterr()
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "last runs (ops.sync_runs):" in out
    assert "ok" in out and "300 rows (API total 300, 300 ids seen)" in out


def test_rpt_sync_health_shows_the_last_ok_run_and_the_day_s_quarantine(
    both: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    _old_ok_run(warehouse, "valomnia", timedelta(hours=30))  # outside the last 24 hours
    both.pexip.update([both.pexip.ids()[0]], drop=("id",))
    assert main(["sync"]) == 0
    monkeypatch.setenv("SOURCES__VALOMNIA__PASSWORD", "not-the-password")
    assert main(["sync"]) == 1

    health = rows(
        warehouse,
        "select source, last_outcome, last_error is not null, last_ok_rows_loaded, runs_24h,"
        " failed_runs_24h, quarantined_24h, avg_rows_per_ok_run, minutes_since_last_ok < 60"
        " from reporting.rpt_sync_health order by source",
    )
    assert health == [
        ("pexip_engage", "ok", False, 0, 2, 0, 2, 149.5, True),  # re-read, re-quarantined
        ("valomnia", "failed", True, 300, 2, 1, 0, 155.0, True),
    ]


# progress and logs


# Pages after the first are fetched side by side, so the held request (the second to arrive)
# may be any of them: the sync waits with one or more pages of the total read.
HELD_LOG_LINE = re.compile(r"progress pexip_engage: page ([1-9]\d*) of 12, (\d+) records")
HELD_SCREEN = re.compile(r"([1-9]\d*)/12 pages, (\d+) records")


def assert_pages_of_25(found: re.Match[str] | None) -> None:
    assert found is not None
    pages, records = int(found[1]), int(found[2])
    assert 1 <= pages < 12 and records == 25 * pages


def test_progress_log_line_tells_pages_of_the_total_without_a_terminal(
    both: Simulator, isolated_env: Path
):
    held = HeldRequest(both, "pexip", k=2)  # the sync waits after one or more pages
    sync = start_apptsync(
        "sync", "--no-models", "--source", "pexip_engage", folder=isolated_env, name="sync",
        APPTSYNC__PROGRESS_SECONDS="0.2", SOURCES__PEXIP_ENGAGE__TIMEOUT_SECONDS="600",
    )  # fmt: skip
    try:
        wait_until(lambda: HELD_LOG_LINE.search(sync.err()) is not None, "a progress line")
        assert_pages_of_25(HELD_LOG_LINE.search(sync.err()))
    finally:
        held.release()
    assert sync.wait() == 0, sync.err()


def test_a_terminal_shows_a_live_line_of_pages_records_and_rate(both: Simulator):
    held = HeldRequest(both, "pexip", k=2)  # the sync waits after one or more pages

    screen = run_on_terminal(
        "sync", "--no-models", "--source", "pexip_engage",
        until=HELD_SCREEN, then=held.release,
        SOURCES__PEXIP_ENGAGE__TIMEOUT_SECONDS="600",
    )  # fmt: skip

    assert_pages_of_25(HELD_SCREEN.search(screen))
    assert "12/12 pages, 300 records" in screen
    assert "pexip_engage: ok" in screen


def test_json_logs_are_one_object_per_line_with_secrets_redacted(
    both: Simulator, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SOURCES__PEXIP_ENGAGE__FILTERS", json.dumps(SECRET_FILTER))
    both.faults("pexip").script(400)

    done = apptsync("--log-format", "json", "sync", "--no-models", "--source", "pexip_engage")

    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert lines and all({"level", "logger", "message", "timestamp"} <= set(o) for o in lines)
    failed = [o for o in lines if "office-id[]=***" in o["message"]]
    assert failed and failed[0]["level"] == "ERROR"
    assert both.pexip.client_secret not in done.stderr + done.stdout


def test_the_ledger_staging_model_keeps_its_types_without_a_ledger(warehouse: Path, tmp_path):
    from pipelines.models import build_models, open_sql_client

    _old_ok_run(warehouse, "valomnia", timedelta(hours=1))
    typed = "select column_name, data_type from information_schema.columns where table_name = ?"
    with open_sql_client(credentials=str(warehouse)) as client:
        build_models(client, select="reporting.rpt_sync_health")
        with_ledger = client.execute_sql(typed, "stg_ops__sync_runs")
        health = client.execute_sql(typed, "rpt_sync_health")
        assert client.execute_sql("select count(*) from staging.stg_ops__sync_runs") == [(1,)]
    with open_sql_client(credentials=str(tmp_path / "empty.duckdb")) as empty:
        build_models(empty, select="reporting.rpt_sync_health")
        assert empty.execute_sql(typed, "stg_ops__sync_runs") == with_ledger
        assert empty.execute_sql(typed, "rpt_sync_health") == health
        assert empty.execute_sql("select count(*) from reporting.rpt_sync_health") == [(0,)]
    assert sorted(name for name, _ in with_ledger) == sorted(ledger.COLUMN_TYPES)


def test_a_ledger_of_an_older_apptsync_gets_the_new_columns(warehouse: Path):
    import duckdb

    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema ops")
        con.execute(
            "create table ops.sync_runs (run_id varchar, source varchar, started_at timestamptz,"
            " finished_at timestamptz, outcome varchar, primary key (run_id, source))"
        )
    _old_ok_run(warehouse, "valomnia", timedelta(minutes=5))
    assert newest(warehouse, "valomnia")["quarantined"] == 4
    columns = rows(warehouse, "select column_name from information_schema.columns "
                   "where table_schema = 'ops' and table_name = 'sync_runs'")  # fmt: skip
    assert sorted(c[0] for c in columns) == sorted(ledger.COLUMN_TYPES)
