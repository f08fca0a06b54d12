"""The Postgres destination through the installed `apptsync`, from a folder of the test's:
choosing it, its settings' errors, every reading command against it, the ledger, and the
password that never shows."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import pytest

from pipelines.simulator import Simulator
from tests.cli_helpers import apptsync, clean_env, project, simulator_env
from tests.postgres_server import PostgresServer
from tests.utils import rows, scalar


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return project(tmp_path / "project")


@pytest.fixture
def server_env(postgres_url: str, simulator: Simulator, tmp_path: Path) -> dict[str, str]:
    """The sources at the simulator and dlt's own Postgres credentials; the destination is
    chosen by each test (flag, variable)."""
    return clean_env(
        {
            **simulator_env(simulator),
            "DLT_DATA_DIR": str(tmp_path / "dlt"),
            "DESTINATION__POSTGRES__CREDENTIALS": postgres_url,
        }
    )


def test_an_unknown_destination_is_one_line_naming_the_key_before_any_request(
    folder: Path, simulator: Simulator, tmp_path: Path
):
    env = clean_env(
        {
            **simulator_env(simulator),
            "DLT_DATA_DIR": str(tmp_path / "dlt"),
            "APPTSYNC__DESTINATION": "oracle",
        }
    )
    result = apptsync("sync", cwd=folder, env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: config key 'apptsync.destination' must be one of duckdb, postgres, got 'oracle' "
        "(set it in .dlt/config.toml, .dlt/secrets.toml or the environment variable "
        "APPTSYNC__DESTINATION)"
    )
    assert simulator.request_log("pexip") == [] and simulator.request_log("valomnia") == []
    flag = apptsync("sync", "--destination", "oracle", cwd=folder, env=env)
    assert flag.returncode == 2 and "invalid choice: 'oracle'" in flag.stderr


def test_postgres_without_credentials_names_dlt_s_key(folder: Path, tmp_path: Path):
    env = clean_env({"DLT_DATA_DIR": str(tmp_path / "dlt")})
    result = apptsync("status", "--destination", "postgres", cwd=folder, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(
        "error: config key 'destination.postgres.credentials' is missing "
        "(postgresql://user:password@host:5432/database)"
    )
    assert "DESTINATION__POSTGRES__CREDENTIALS" in result.stderr


def test_a_wrong_password_fails_in_one_line_without_the_password(
    folder: Path, postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
):
    wrong = postgres_url.replace(postgres_server.password, "Wr0ngPassw0rd")
    env = clean_env(
        {"DLT_DATA_DIR": str(tmp_path / "dlt"), "DESTINATION__POSTGRES__CREDENTIALS": wrong}
    )
    result = apptsync("status", "--destination", "postgres", cwd=folder, env=env)
    assert result.returncode == 1
    line = result.stderr.strip()
    assert line.startswith("error: cannot connect to postgresql://postgres:***@127.0.0.1:")
    assert "password authentication failed" in line
    assert "Wr0ngPassw0rd" not in result.stdout + result.stderr


def test_sync_status_export_and_ledger_against_postgres_never_show_the_password(
    folder: Path,
    server_env: dict[str, str],
    postgres_server: PostgresServer,
    postgres_url: str,
    simulator: Simulator,
):
    password = postgres_server.password
    synced = apptsync("sync", "--destination", "postgres", "--no-models", "-v", cwd=folder,
                      env=server_env)  # fmt: skip
    assert synced.returncode == 0, synced.stderr
    assert "pexip_engage: ok" in synced.stdout and "valomnia: ok" in synced.stdout
    assert scalar(postgres_url, "select count(*) from pexip_engage.appointments") == 300
    assert scalar(postgres_url, "select count(*) from valomnia.appointments") == 300
    assert sorted(p.name for p in folder.iterdir()) == [".dlt"]  # no DuckDB file, no lock file

    # the variable chooses it as well as the flag
    env = {**server_env, "APPTSYNC__DESTINATION": "postgres"}
    status = apptsync("status", cwd=folder, env=env)
    assert status.returncode == 0, status.stderr
    assert "warehouse: postgresql://postgres:***@127.0.0.1:" in status.stdout
    assert "ok" in status.stdout and "last runs (ops.sync_runs)" in status.stdout
    as_json = apptsync("status", "--json", cwd=folder, env=env)
    document = json.loads(as_json.stdout)
    assert document["destination"] == "postgres"
    assert document["sources"]["valomnia"]["row_counts"]["appointments"] == 300

    target = folder / "appointments.csv"
    exported = apptsync("export", "pexip_engage.appointments", "-o", str(target), cwd=folder,
                        env=env)  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    with target.open(newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert len(lines) == simulator.pexip.count()
    assert {line["id"] for line in lines} == set(simulator.pexip.ids())
    # times as ISO text in UTC, as a DuckDB warehouse exports them
    api = {r["id"]: r["updatedAt"].replace("Z", "000+00") for r in simulator.pexip.records()}
    assert {line["id"]: line["updated_at"] for line in lines} == api

    published = apptsync("publish", cwd=folder, env=env)
    assert published.returncode == 0, published.stderr
    assert published.stdout.strip() == (
        "publish: nothing to do: readers query the postgres warehouse directly"
    )

    ledger = rows(postgres_url, "select source, outcome, rows_loaded from ops.sync_runs order by 1")
    assert ledger == [("pexip_engage", "ok", 300), ("valomnia", "ok", 300)]
    for result in (synced, status, as_json, exported, published):
        assert password not in result.stdout + result.stderr
    stored = rows(postgres_url, "select * from ops.sync_runs")
    assert not any(password in str(value) for row in stored for value in row)


def test_a_failed_run_on_postgres_is_in_its_ledger(
    folder: Path, server_env: dict[str, str], postgres_url: str
):
    env = {**server_env, "SOURCES__PEXIP_ENGAGE__CLIENT_SECRET": "not-the-secret"}
    result = apptsync("sync", "--destination", "postgres", "--no-models", cwd=folder, env=env)
    assert result.returncode == 1
    assert "pexip_engage: FAILED" in result.stdout
    outcomes = rows(postgres_url, "select source, outcome from ops.sync_runs order by 1")
    assert outcomes == [("pexip_engage", "failed"), ("valomnia", "ok")]


def test_readers_copy_what_they_read_of_a_server_in_one_snapshot(
    postgres_server: PostgresServer, postgres_url: str, pexip: Simulator
):
    """Feeds and the report read a server through an in-memory DuckDB copy: the reporting
    relations whole, the ledger, each source's loads and quarantine, and only the cursor
    column of its appointments."""
    from pipelines.load.pipeline import run_source
    from pipelines.publish import freshness
    from pipelines.publish.reading import open_reader, reader_database
    from tests.utils import execute

    assert run_source("pexip_engage").ok
    execute(postgres_url, "create schema reporting")
    execute(
        postgres_url,
        "create view reporting.by_status as select status, count(*) as n "
        "from pexip_engage.appointments group by status",
    )
    source = reader_database()
    assert source == postgres_url.replace(postgres_server.password, "***")
    with open_reader(source) as con:
        by_status = con.execute("select status, n from reporting.by_status order by 1").fetchall()
        copied = con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'pexip_engage' and table_name = 'appointments'"
        ).fetchall()
        fresh = {entry.source: entry for entry in freshness.source_freshness(con)}
        ledger = con.execute("select source, outcome from ops.sync_runs").fetchall()
    expected = rows(
        postgres_url, "select status, count(*) from pexip_engage.appointments group by 1"
    )
    assert by_status == sorted(expected)
    assert copied == [("updated_at",)]
    assert fresh["pexip_engage"].loads == 1 and fresh["valomnia"].loads == 0
    newest = max(datetime.fromisoformat(r["updatedAt"]) for r in pexip.pexip.records())
    assert datetime.fromisoformat(fresh["pexip_engage"].newest_update_at or "") == newest
    assert ledger == [("pexip_engage", "ok")]


def test_a_run_on_another_machine_holding_the_lock_turns_this_one_away_naming_it(
    folder: Path, server_env: dict[str, str], postgres_url: str, simulator: Simulator
):
    """The lock is the server's: a session elsewhere (here: a connection that says it is
    apptsync on another host) keeps every run on this machine out, and is named."""
    import re

    import psycopg2

    from pipelines.destinations.postgres import LOCK_KEY

    other = psycopg2.connect(postgres_url, application_name="apptsync sync 4242@worker-2")
    try:
        with other.cursor() as cursor:
            cursor.execute("select pg_advisory_lock(%s)", (LOCK_KEY,))
        result = apptsync("sync", "--destination", "postgres", cwd=folder, env=server_env)
        status = apptsync("status", "--destination", "postgres", cwd=folder, env=server_env)
    finally:
        other.close()
    assert result.returncode == 75
    assert re.fullmatch(
        r"another apptsync sync is running \(PID 4242 on worker-2, since \d\d:\d\d:\d\d\)",
        result.stderr.strip(),
    ), result.stderr
    assert "running: apptsync sync is running (PID 4242 on worker-2" in status.stdout
    assert simulator.request_log("pexip") == []
    after = apptsync("sync", "--destination", "postgres", "--no-models", cwd=folder, env=server_env)
    assert after.returncode == 0, after.stderr
