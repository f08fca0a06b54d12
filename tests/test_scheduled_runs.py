"""Scheduled runs as cron fires them: one writer at a time, exit codes, a killed holder.

Every test here runs the real `apptsync` in its own processes against the simulator; a
sync is kept inside its run (lock held, dlt's folder in use) by holding the simulator's
answer to its first request, so nothing depends on how fast this machine is.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.ops import ledger
from pipelines.ops.exit_codes import MEANINGS
from pipelines.ops.lock import lock_holder
from pipelines.simulator import Simulator
from pipelines.warehouse import lock_path
from tests.cli_helpers import apptsync, start_apptsync, wait_until
from tests.holder_helpers import HeldRequest
from tests.utils import Target, configure_source, duckdb_file, rows, scalar

LOCKED = 75
HOLD = {"SOURCES__PEXIP_ENGAGE__TIMEOUT_SECONDS": "600"}  # the held answer is no timeout


@pytest.fixture
def both(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    configure_source("pexip_engage", simulator, monkeypatch)
    configure_source("valomnia", simulator, monkeypatch)
    return simulator


def _pending_packages(dlt_dir: Path) -> list[Path]:
    """Load packages dlt left behind (extracted or normalized, not yet loaded)."""
    found: list[Path] = []
    for step in ("extracted", "normalized"):
        found += list(dlt_dir.glob(f"pipelines/*/{step}/*"))
        found += list(dlt_dir.glob(f"pipelines/*/load/{step}/*"))
    return found


def test_second_sync_exits_75_while_the_first_holds_the_lock(
    both: Simulator, isolated_env: Path, target: Target
):
    held = HeldRequest(both, "pexip")
    first = start_apptsync("sync", "--no-models", folder=isolated_env, name="first", **HOLD)
    try:
        held.wait_for_request()

        second = apptsync("sync", "--no-models")

        assert second.returncode == LOCKED
        assert second.stdout == ""
        line = second.stderr.strip()
        assert re.fullmatch(
            rf"another apptsync sync is running \(PID {first.pid}, since \d\d:\d\d:\d\d\)", line
        ), second.stderr
        # every writer takes the same lock; status names the holder
        assert main(["models"]) == LOCKED
        holder = lock_holder()  # what `status` shows as "running:"
        assert holder is not None and holder["pid"] == first.pid
    finally:
        held.release()
    assert first.wait() == 0, first.err()
    assert "pexip_engage: ok" in first.out() and "valomnia: ok" in first.out()
    assert scalar(target, "select count(*) from pexip_engage.appointments") == 300
    assert scalar(target, "select count(*) from valomnia.appointments") == 300
    # the process turned away wrote nothing: one ledger row per source, all of the first run
    runs = ledger.last_runs(limit=10, database=duckdb_file(target))
    assert sorted((r["source"], r["outcome"], r["pid"]) for r in runs) == [
        ("pexip_engage", "ok", first.pid),
        ("valomnia", "ok", first.pid),
    ]
    assert _pending_packages(isolated_env / "dlt") == []


def test_sync_with_wait_runs_after_the_first_and_lands_exactly_the_changed_rows(
    both: Simulator, isolated_env: Path, warehouse: Path
):
    assert apptsync("sync", "--no-models").returncode == 0
    changed = both.valomnia.ids()[:7]
    both.valomnia.update(changed)
    held = HeldRequest(both, "pexip")
    first = start_apptsync(
        "sync", "--no-models", "--source", "pexip_engage", folder=isolated_env, name="a", **HOLD
    )
    try:
        held.wait_for_request()
        waiting = start_apptsync(
            "sync", "--wait", "600", "--no-models", "--source", "valomnia",
            folder=isolated_env, name="b",
        )  # fmt: skip
        wait_until(lambda: "waiting up to 600s" in waiting.err(), "the second run to wait")
        assert f"another apptsync sync is running (PID {first.pid}" in waiting.err()
    finally:
        held.release()

    assert first.wait() == 0, first.err()
    assert waiting.wait() == 0, waiting.err()
    assert "pexip_engage: ok" in first.out() and "wrote nothing new" in first.out()
    assert waiting.out().startswith("valomnia: ok"), waiting.out()
    runs = {
        r["source"]: r for r in ledger.last_runs(limit=2, database=str(warehouse))
    }  # the newest run of each source
    assert runs["valomnia"]["rows_loaded"] == len(changed)
    assert runs["valomnia"]["started_at"] >= runs["pexip_engage"]["finished_at"]
    assert runs["pexip_engage"]["rows_loaded"] == 0
    newest_load = rows(
        warehouse,
        "select id from valomnia.appointments where _dlt_load_id = "
        "(select max(load_id) from valomnia._dlt_loads) order by id",
    )
    assert [r[0] for r in newest_load] == sorted(changed)
    assert scalar(warehouse, "select count(*) from valomnia.appointments") == 300
    assert _pending_packages(isolated_env / "dlt") == []


def test_a_killed_holder_never_blocks_the_next_run(
    both: Simulator, isolated_env: Path, target: Target
):
    held = HeldRequest(both, "pexip")
    killed = start_apptsync("sync", "--no-models", folder=isolated_env, name="killed", **HOLD)
    held.wait_for_request()
    assert lock_holder()["pid"] == killed.pid  # type: ignore[index]
    os.kill(killed.pid, signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL
    held.release()
    # a lock file's record names a PID that is gone; a server ends the session's lock
    wait_until(lambda: lock_holder() is None, "the killed holder's lock to go")

    after = apptsync("sync")

    assert after.returncode == 0, after.stderr
    assert scalar(target, "select count(*) from pexip_engage.appointments") == 300
    assert scalar(target, "select count(*) from valomnia.appointments") == 300
    assert scalar(target, "select count(distinct id) from pexip_engage.appointments") == 300
    assert _pending_packages(isolated_env / "dlt") == []


def test_exit_codes_of_ok_failed_and_misconfigured_runs(
    both: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    assert main(["sync", "--no-models"]) == 0

    monkeypatch.setenv("SOURCES__PEXIP_ENGAGE__CLIENT_SECRET", "not-the-secret")
    assert main(["sync", "--no-models"]) == 1
    out = capsys.readouterr().out
    assert "pexip_engage: FAILED" in out and "valomnia: ok" in out

    monkeypatch.setenv("SOURCES__VALOMNIA__PAGE_SIZE", "0")
    assert main(["sync", "--no-models"]) == 2  # a setting to fix wins over the other's outage
    assert "SOURCES__VALOMNIA__PAGE_SIZE" in capsys.readouterr().out

    with pytest.raises(SystemExit) as usage:
        main(["sync", "--wait", "soon"])
    assert usage.value.code == 2
    assert "--wait: invalid float value" in capsys.readouterr().err


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as shown:
        main(["--help"])
    assert shown.value.code == 0
    out = capsys.readouterr().out
    for code, meaning in MEANINGS.items():
        assert re.search(rf"^\s*{int(code)}\s+{re.escape(meaning)}$", out, re.M), code


def test_readme_lists_the_exit_codes_the_command_line_returns():
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Exit codes", 1)[1].split("\n\n", 2)[1]
    documented = re.findall(r"^\| (\d+) \| (.+) \|$", section, re.M)
    assert documented == [(str(int(code)), meaning) for code, meaning in MEANINGS.items()]


def test_an_interrupted_sync_exits_130_and_its_run_is_recorded_as_failed(
    both: Simulator, isolated_env: Path, warehouse: Path
):
    held = HeldRequest(both, "pexip", k=2)
    sync = start_apptsync(
        "sync", "--no-models", "--source", "pexip_engage", folder=isolated_env, name="sync",
        **HOLD,
    )  # fmt: skip
    try:
        held.wait_for_request()
        sync.process.send_signal(signal.SIGINT)
    finally:
        held.release()

    assert sync.wait() == 130, sync.err()
    run = ledger.last_runs("pexip_engage", database=str(warehouse))[0]
    assert (run["outcome"], run["error"], run["cursor_after"]) == ("failed", "interrupted", None)
    assert lock_holder(lock_path()) is None
