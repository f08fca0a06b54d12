"""The whole product: simulator → both syncs → models → audits, through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.simulator import Simulator
from tests.utils import Target, configure_pexip, configure_valomnia, execute, rows, scalar


@pytest.fixture
def both(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    configure_pexip(simulator, monkeypatch)
    configure_valomnia(simulator, monkeypatch)
    return simulator


def test_sync_builds_models_whose_audits_pass(both: Simulator, target: Target, capsys):
    assert main(["sync"]) == 0
    assert main(["check"]) == 0

    raw = scalar(target, "select count(*) from pexip_engage.appointments") + scalar(
        target, "select count(*) from valomnia.appointments"
    )
    assert raw == both.pexip.count() + both.valomnia.count()
    assert scalar(target, "select count(*) from reporting.fct_appointments") == raw
    per_source = dict(
        rows(target, "select source, count(*) from reporting.fct_appointments group by 1")
    )
    assert per_source == {"pexip_engage": both.pexip.count(), "valomnia": both.valomnia.count()}


def test_one_source_down_does_not_block_the_other(
    both: Simulator, target: Target, monkeypatch: pytest.MonkeyPatch, capsys
):
    monkeypatch.setenv("SOURCES__PEXIP_ENGAGE__CLIENT_SECRET", "not-the-secret")

    assert main(["sync"]) == 1

    out = capsys.readouterr().out
    assert "pexip_engage: FAILED" in out
    assert scalar(target, "select count(*) from valomnia.appointments") == both.valomnia.count()
    assert scalar(target, "select count(*) from reporting.fct_appointments") == (
        both.valomnia.count()
    )


def test_check_fails_on_a_planted_violation(both: Simulator, target: Target, capsys):
    """A status the mapping does not know fails the check (severity error); an appointment
    ending before it starts is a warning only."""
    assert main(["sync"]) == 0
    execute(
        target,
        """update pexip_engage.appointments set "end" = start - interval '1 hour' """
        "where id = (select min(id) from pexip_engage.appointments where start is not null)",
    )
    assert main(["check"]) == 0
    assert "WARN  assert_ends_at_not_before_starts_at" in capsys.readouterr().out

    execute(
        target,
        "update pexip_engage.appointments set status = 'TELEPORTED' "
        "where id = (select min(id) from pexip_engage.appointments)",
    )

    assert main(["check"]) == 1
    assert "FAIL  assert_status_in_vocabulary: 1 row breaks the rule" in capsys.readouterr().out


def test_status_and_export_after_a_sync(both: Simulator, target: Target, tmp_path: Path, capsys):
    assert main(["sync", "--source", "pexip_engage"]) == 0
    capsys.readouterr()

    assert main(["status"]) == 0
    status = capsys.readouterr().out
    assert "cursor updatedAt:" in status
    assert "valomnia:" in status

    target = tmp_path / "fct.csv"
    assert main(["export", "reporting.fct_appointments", "-o", str(target)]) == 0
    lines = target.read_text().splitlines()
    assert len(lines) == both.pexip.count() + 1  # header + one line per appointment


def test_feeds_and_the_report_read_the_warehouse(both: Simulator, target: Target, tmp_path: Path):
    """On Postgres there is no published copy: both read the server."""
    from pipelines.publish.feeds import read_manifest
    from pipelines.publish.reading import open_reader, reader_database
    from pipelines.publish.report_data import collect

    assert main(["sync"]) == 0
    assert main(["feeds", str(tmp_path / "feeds"), "--format", "csv"]) == 0
    manifest = read_manifest(tmp_path / "feeds")
    files = {entry["model"]: entry for entry in manifest["models"]}
    fct = files["reporting.fct_appointments"]
    assert fct["rows"] == both.pexip.count() + both.valomnia.count()
    lines = (tmp_path / "feeds" / fct["file"]).read_text().splitlines()
    assert len(lines) == fct["rows"] + 1
    assert manifest["runs_from"] == "ledger"
    assert {s: e["loads"] for s, e in manifest["sources"].items()} == {
        "pexip_engage": 1,
        "valomnia": 1,
    }
    assert main(["report", "-o", str(tmp_path / "report.html")]) == 0
    assert (tmp_path / "report.html").stat().st_size > 0
    with open_reader(reader_database()) as con:
        data = collect(con)
    assert data.totals == [
        {"source": "pexip_engage", "appointments": both.pexip.count(), "deleted": 0},
        {"source": "valomnia", "appointments": both.valomnia.count(), "deleted": 0},
    ]
    assert data.runs_from == "ledger"


def test_demo_runs_twice_and_the_second_run_is_incremental(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    assert main(["demo", "--appointments", "200"]) == 0
    first = capsys.readouterr().out
    assert main(["demo", "--appointments", "200"]) == 0
    second = capsys.readouterr().out

    database = isolated_env / ".apptsync" / "demo" / "apptsync.duckdb"
    assert scalar(database, "select count(*) from reporting.fct_appointments") == 400
    assert not (isolated_env / "warehouse.duckdb").exists()  # the configured, real one
    assert "pexip_engage: ok" in first and "valomnia: ok" in first
    assert "wrote nothing new" in second


def test_dlt_own_cli_can_inspect_the_pipelines(both: Simulator, warehouse: Path):
    import os
    import subprocess
    import sys

    assert main(["sync", "--no-models"]) == 0
    dlt_cli = Path(sys.executable).parent / "dlt"
    for command in ("info", "trace"):
        done = subprocess.run(
            [str(dlt_cli), "pipeline", "pexip_engage", command],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "pexip_engage" in done.stdout
        assert both.pexip.client_secret not in done.stdout + done.stderr
