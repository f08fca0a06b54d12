"""The command line as a newcomer and cron meet it: run from a folder other than the
checkout, as the installed `apptsync` (the export format rules also directly)."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.ops.export import export_relation
from pipelines.simulator import Simulator
from tests.cli_helpers import APPTSYNC, apptsync, clean_env, project, simulator_env
from tests.utils import rows, scalar

COMMANDS = (
    "sync", "models", "build", "ls", "check", "status", "export", "demo", "simulate", "reset"
)  # fmt: skip


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The user's project folder, away from the checkout."""
    return project(tmp_path / "project")


@pytest.fixture(scope="module")
def synced_once(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """One project that synced both sources, made once for the module (a sync is slow)."""
    root = tmp_path_factory.mktemp("synced")
    with Simulator(appointments=120, seed=11) as sim:
        env = clean_env({**simulator_env(sim), "DLT_DATA_DIR": str(root / "dlt")})
        apptsync("sync", "-q", cwd=project(root / "project"), env=env, check=True)
        yield root, env


@pytest.fixture
def synced(synced_once: tuple[Path, dict[str, str]], tmp_path: Path) -> dict[str, str]:
    """A copy of that project as this test's `folder`, with its own dlt folder."""
    root, env = synced_once
    shutil.copytree(root / "project", tmp_path / "project", dirs_exist_ok=True)
    shutil.copytree(root / "dlt", tmp_path / "dlt")
    return {**env, "DLT_DATA_DIR": str(tmp_path / "dlt")}


def test_plain_apptsync_prints_help_and_version_is_known(tmp_path: Path):
    bare = apptsync(cwd=tmp_path)
    assert bare.returncode == 0
    assert "usage: apptsync" in bare.stdout and "sync" in bare.stdout
    version = apptsync("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("apptsync 0.")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_a_description_and_an_example(command: str, tmp_path: Path):
    shown = apptsync(command, "--help", cwd=tmp_path)
    assert shown.returncode == 0
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"usage: apptsync {command}")
    description = lines[lines.index("") + 1]
    assert description and not description.startswith(("options", "positional"))
    assert f"example: apptsync {command}" in shown.stdout


def test_read_only_commands_never_create_a_warehouse(folder: Path, tmp_path: Path):
    env = clean_env({"DLT_DATA_DIR": str(tmp_path / "dlt")})
    expected = f"no warehouse at {folder / 'apptsync.duckdb'} — run `apptsync sync` first"
    for command in (
        ["check"], ["models"], ["build"], ["export", "fct_appointments", "-o", "x.csv"]
    ):  # fmt: skip
        result = apptsync(*command, cwd=folder, env=env)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == f"error: {expected}"
    status = apptsync("status", cwd=folder, env=env)
    assert status.returncode == 0
    assert "(none yet — run `apptsync sync` first)" in status.stdout
    assert sorted(p.name for p in folder.iterdir()) == [".dlt"]


def test_project_dir_flag_and_variable_mean_that_folder_wherever_cron_starts(
    synced: dict[str, str], folder: Path, tmp_path: Path
):
    home = tmp_path / "home"
    home.mkdir()
    flag = apptsync("status", "--project-dir", str(folder), cwd=home, env=synced)
    variable = apptsync("status", cwd=home, env={**synced, "APPTSYNC_PROJECT_DIR": str(folder)})
    for result in (flag, variable):
        assert result.returncode == 0, result.stderr
        assert f"warehouse: {folder / 'apptsync.duckdb'}\n" in result.stdout
        assert f"dlt working folder: {tmp_path / 'dlt' / 'pipelines'}" in result.stdout
        assert "appointments" in result.stdout
    assert list(home.iterdir()) == []


def test_a_relative_output_path_is_the_callers_folder_not_the_project(
    synced: dict[str, str], folder: Path, tmp_path: Path
):
    caller = tmp_path / "caller"
    caller.mkdir()
    result = apptsync(
        "export",
        "fct_appointments",
        "-o",
        "out.csv",
        "--project-dir",
        str(folder),
        cwd=caller,
        env=synced,
    )
    assert result.returncode == 0, result.stderr
    assert (caller / "out.csv").exists() and not (folder / "out.csv").exists()


def test_telemetry_is_off_unless_the_user_switches_it_on(tmp_path: Path):
    probe = (
        "from pipelines.cli import enter_project; enter_project(None); import dlt; "
        "print(dlt.config.get('runtime.dlthub_telemetry'))"
    )
    python = str(Path(APPTSYNC).with_name("python"))
    env = clean_env({"DLT_DATA_DIR": str(tmp_path / "dlt")})
    env.pop("RUNTIME__DLTHUB_TELEMETRY", None)
    bare = subprocess.run([python, "-c", probe], cwd=tmp_path, env=env, capture_output=True)
    assert bare.stdout.decode().strip() == "false", bare.stderr
    asked = project(tmp_path / "asked")
    (asked / ".dlt" / "config.toml").write_text("[runtime]\ndlthub_telemetry = true\n")
    on = subprocess.run([python, "-c", probe], cwd=asked, env=env, capture_output=True)
    assert on.stdout.decode().strip() == "True", on.stderr


def test_quiet_prints_nothing_on_success_and_verbose_works_after_the_command(
    folder: Path, simulator: Simulator, tmp_path: Path
):
    env = clean_env({**simulator_env(simulator), "DLT_DATA_DIR": str(tmp_path / "dlt")})
    quiet = apptsync("sync", "-q", cwd=folder, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == "" and quiet.stderr == ""
    checked = apptsync("check", "-q", cwd=folder, env=env)
    assert (checked.returncode, checked.stdout) == (0, "")
    verbose = apptsync("status", "-v", cwd=folder, env=env)
    assert verbose.returncode == 0 and "warehouse:" in verbose.stdout


def test_quiet_still_prints_a_failing_source(folder: Path, simulator: Simulator, tmp_path: Path):
    env = clean_env({**simulator_env(simulator), "DLT_DATA_DIR": str(tmp_path / "dlt")})
    env["SOURCES__VALOMNIA__PASSWORD"] = "wrong-password"
    result = apptsync("sync", "-q", "--no-models", cwd=folder, env=env)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith("valomnia: FAILED after ")
    assert len(result.stdout.splitlines()) == 1
    assert "wrong-password" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "PipelineStepFailed" not in result.stderr


def test_a_missing_setting_is_one_line_without_dlts_provider_trace(
    folder: Path, simulator: Simulator, tmp_path: Path
):
    env = clean_env({**simulator_env(simulator), "DLT_DATA_DIR": str(tmp_path / "dlt")})
    del env["SOURCES__PEXIP_ENGAGE__CLIENT_ID"]
    result = apptsync("sync", "--source", "pexip_engage", "--no-models", cwd=folder, env=env)
    assert result.returncode != 0
    assert result.stdout.strip().startswith("pexip_engage: FAILED after")
    assert "sources.pexip_engage.client_id" in result.stdout
    assert "SOURCES__PEXIP_ENGAGE__CLIENT_ID" in result.stdout
    assert len(result.stderr.splitlines()) <= 2, result.stderr


def test_ctrl_c_stops_the_run_exits_130_and_says_what_was_kept(folder: Path, tmp_path: Path):
    with Simulator(appointments=600, seed=3) as sim:
        sim.faults("pexip").latency_ms = 150
        env = clean_env({**simulator_env(sim), "DLT_DATA_DIR": str(tmp_path / "dlt")})
        paging = threading.Event()
        sim.after_request("pexip", 3, paging.set)
        process = subprocess.Popen(
            [APPTSYNC, "sync"],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert paging.wait(60), "the sync never started paging"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
        valomnia_requests = sim.request_count("valomnia")
    assert process.returncode == 130, stderr
    assert "interrupted: no source finished; pexip_engage stopped with its cursor unmoved" in stderr
    assert "valomnia not run; models not rebuilt" in stderr
    assert valomnia_requests == 0
    warehouse = folder / "apptsync.duckdb"
    if warehouse.exists():
        assert (
            scalar(
                warehouse,
                "select count(*) from information_schema.tables where table_schema = 'reporting'",
            )
            == 0
        )


def test_a_reader_that_leaves_early_gets_no_broken_pipe(synced: dict[str, str], folder: Path):
    shell = f"{APPTSYNC} export appointments__answers -o - --format ndjson | head -c 100"
    piped = subprocess.run(
        ["bash", "-o", "pipefail", "-c", shell],
        cwd=folder,
        env=synced,
        capture_output=True,
        text=True,
    )
    assert "Broken pipe" not in piped.stderr and "BrokenPipeError" not in piped.stderr
    assert piped.returncode == 0, piped.stderr


@pytest.mark.parametrize("suffix", ["csv", "parquet", "json", "ndjson"])
def test_export_writes_the_format_of_the_suffix(suffix: str, synced: dict[str, str], folder: Path):
    target = folder / f"out.{suffix}"
    result = apptsync(
        "export", "reporting.fct_appointments", "-o", str(target), cwd=folder, env=synced
    )
    assert result.returncode == 0, result.stderr
    expected = scalar(folder / "apptsync.duckdb", "select count(*) from reporting.fct_appointments")
    assert (
        result.stdout.strip() == f"wrote {expected} rows of reporting.fct_appointments to {target}"
    )
    if suffix == "csv":
        loaded = list(csv.DictReader(target.open()))
    elif suffix == "parquet":
        loaded = pq.read_table(target).to_pylist()
    elif suffix == "json":
        loaded = json.loads(target.read_text())
    else:
        loaded = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(loaded) == expected
    keys = {row["appointment_key"] for row in loaded}
    assert len(keys) == expected


def test_csv_export_writes_iso_timestamps_and_lists_as_json(tmp_path: Path):
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "create schema reporting; create table reporting.t as select "
            "timestamptz '2026-03-01 09:30:00+00' as at, timestamp '2026-03-01 10:00:00' as "
            "local_at, ['a', 'b'] as tags, {'k': 1} as pair, 7 as n"
        )
    relation, count = export_relation(str(warehouse), "t", str(tmp_path / "t.csv"))
    assert (str(relation), count) == ("reporting.t", 1)
    assert list(csv.DictReader((tmp_path / "t.csv").open())) == [
        {
            "at": "2026-03-01T09:30:00.000000+00",
            "local_at": "2026-03-01T10:00:00.000000",
            "tags": '["a","b"]',
            "pair": '{"k":1}',
            "n": "7",
        }
    ]


@pytest.mark.parametrize("name", ["out.xlsx", "out.txt", "out"])
def test_export_refuses_a_format_it_cannot_write(name: str, synced: dict[str, str], folder: Path):
    result = apptsync("export", "fct_appointments", "-o", name, cwd=folder, env=synced)
    assert result.returncode == 1
    assert "cannot tell the format" in result.stderr and not (folder / name).exists()


def test_an_unknown_relation_gets_one_line_with_close_matches(synced: dict[str, str], folder: Path):
    result = apptsync("export", "reporting.fct_apointments", "-o", "x.csv", cwd=folder, env=synced)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: no relation 'reporting.fct_apointments' in the warehouse; "
        "did you mean reporting.fct_appointments?"
    )
    ambiguous = apptsync("export", "appointments", "-o", "x.csv", cwd=folder, env=synced)
    assert "names more than one relation (pexip_engage.appointments, valomnia.appointments)" in (
        ambiguous.stderr
    )


def test_demo_never_touches_the_real_warehouse_or_sync_state(
    synced: dict[str, str], folder: Path, tmp_path: Path
):
    warehouse = folder / "apptsync.duckdb"
    before = rows(warehouse, "select id, updated_at from pexip_engage.appointments order by 1")
    state = sorted(p.read_bytes() for p in (tmp_path / "dlt").rglob("state.json"))
    demo = apptsync("demo", "--appointments", "40", cwd=folder, env=synced)
    assert demo.returncode == 0, demo.stderr
    demo_folder = folder / ".apptsync" / "demo"
    assert f"{demo_folder}" in demo.stdout
    assert rows(warehouse, "select id, updated_at from pexip_engage.appointments order by 1") == (
        before
    )
    assert sorted(p.read_bytes() for p in (tmp_path / "dlt").rglob("state.json")) == state
    assert (
        scalar(demo_folder / "apptsync.duckdb", "select count(*) from valomnia.appointments") == 40
    )


def test_demo_refuses_a_negative_size(tmp_path: Path):
    result = apptsync("demo", "--appointments", "-5", cwd=tmp_path)
    assert result.returncode == 2
    assert "must be at least 1, got -5" in result.stderr


def test_reset_asks_on_a_terminal_only_and_forgets_the_cursor_with_yes(
    synced: dict[str, str], folder: Path, tmp_path: Path
):
    refused = apptsync("reset", "valomnia", cwd=folder, env=synced)
    assert refused.returncode == 2
    assert "add --yes" in refused.stderr
    done = apptsync("reset", "valomnia", "--yes", cwd=folder, env=synced)
    assert done.returncode == 0, done.stderr
    status = apptsync("status", cwd=folder, env=synced)
    assert "cursor lastUpdated: not set (next run is a full load)" in status.stdout
    assert "cursor updatedAt: not set" not in status.stdout


def test_a_settings_file_that_is_not_toml_is_named_with_the_reason(folder: Path, tmp_path: Path):
    (folder / ".dlt" / "config.toml").write_text("[sources.valomnia\npage_size = 5\n")
    result = apptsync("status", cwd=folder, env=clean_env({"DLT_DATA_DIR": str(tmp_path)}))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {folder / '.dlt' / 'config.toml'} is not valid TOML")
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
