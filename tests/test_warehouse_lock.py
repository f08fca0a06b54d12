"""Another process holds the working warehouse: commands wait for it, then fail in one line.

The holders are real processes with a DuckDB connection, as an analyst's `duckdb` CLI or a
BI tool would keep; the commands are the real `apptsync`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
import pytest

from pipelines.cli import main
from pipelines.connection import EXIT_LOCKED
from pipelines.simulator import Simulator
from tests.cli_helpers import apptsync, error_lines, start_apptsync, wait_until
from tests.holder_helpers import Holder
from tests.utils import configure_pexip, configure_valomnia, scalar, table_counts


@pytest.fixture
def both(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    configure_pexip(simulator, monkeypatch)
    configure_valomnia(simulator, monkeypatch)
    return simulator


def states() -> dict[str, Any]:
    """Each pipeline's dlt state (the cursors), as the next run would read it."""
    return {name: dlt.attach(pipeline_name=name).state for name in ("pexip_engage", "valomnia")}


def counts(warehouse: Path) -> dict[str, dict[str, int]]:
    return {name: table_counts(warehouse, name) for name in ("pexip_engage", "valomnia")}


def written(stdout: str, source: str) -> dict[str, int]:
    """Rows per table from a source's summary line: `<source>: ok in 1.0s, wrote t 4, u 2`."""
    (line,) = [x for x in stdout.splitlines() if x.startswith(f"{source}: ok")]
    pairs = line.split(", wrote ", 1)[1].split(" (")[0].split(", ")
    return {table: int(n) for table, n in (pair.rsplit(" ", 1) for pair in pairs)}


@pytest.mark.parametrize("read_only", [True, False], ids=["read-only", "read-write"])
def test_sync_waits_for_a_holder_of_the_working_warehouse_then_succeeds(
    both: Simulator, warehouse: Path, read_only: bool, isolated_env: Path
):
    assert apptsync("sync", "--no-publish").returncode == 0
    both.pexip.insert(6)

    with Holder(warehouse, read_only=read_only) as holder:
        sync = start_apptsync("sync", folder=isolated_env, name="sync")
        waiting = "waiting up to 60 s"  # it logged who holds the file, and waits
        wait_until(lambda: waiting in sync.err() or sync.process.poll() is not None, waiting)
        assert waiting in sync.err(), f"the sync ended without waiting: {sync.err()}"
        assert f"held by PID {holder.pid}" in sync.err()

    assert sync.wait() == 0, sync.err()
    assert written(sync.out(), "pexip_engage")["appointments"] == 6
    assert counts(warehouse)["pexip_engage"]["appointments"] == both.pexip.count()
    assert sync.err().count(f"held by PID {holder.pid}") == 1  # logged once


def test_sync_past_the_wait_fails_in_one_line_and_the_next_run_is_exact(
    both: Simulator, warehouse: Path
):
    assert apptsync("sync", "--no-publish").returncode == 0
    before, cursors = counts(warehouse), states()
    both.pexip.insert(4)
    both.valomnia.insert(2)

    with Holder(warehouse, read_only=False) as holder:
        failed = apptsync("sync", APPTSYNC__LOCK_WAIT_SECONDS="1")

    assert failed.returncode == EXIT_LOCKED
    (line,) = error_lines(failed.stderr)
    assert " lock " in line and f"PID {holder.pid}" in line
    assert "Traceback" not in failed.stderr and failed.stdout == ""
    assert counts(warehouse) == before and states() == cursors

    again = apptsync("sync")

    assert again.returncode == 0, again.stderr
    assert written(again.stdout, "pexip_engage")["appointments"] == 4
    assert written(again.stdout, "valomnia")["appointments"] == 2
    after = counts(warehouse)
    assert after["pexip_engage"]["appointments"] == before["pexip_engage"]["appointments"] + 4
    assert after["valomnia"]["appointments"] == before["valomnia"]["appointments"] + 2


@pytest.mark.parametrize(
    "command, holder_read_only, exit_code",
    [
        (("models",), True, EXIT_LOCKED),  # a writer: even a read-only holder blocks it
        (("models",), False, EXIT_LOCKED),
        (("publish",), True, EXIT_LOCKED),
        (("check",), False, EXIT_LOCKED),  # a reader: only a read-write holder blocks it
        (("status",), False, EXIT_LOCKED),
        (("check",), True, 0),
        (("status",), True, 0),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, tuple) else str(v),
)
def test_other_commands_wait_for_the_warehouse_like_sync(
    warehouse: Path, command: tuple[str, ...], holder_read_only: bool, exit_code: int
):
    import duckdb

    duckdb.connect(str(warehouse)).close()  # `models` never creates a warehouse
    assert main(["models"]) == 0  # views over empty placeholders: enough to hold and query

    with Holder(warehouse, read_only=holder_read_only) as holder:
        done = apptsync(*command, APPTSYNC__LOCK_WAIT_SECONDS="0.2")

    assert done.returncode == exit_code, done.stderr
    if exit_code:
        (line,) = error_lines(done.stderr)
        assert " lock " in line and f"PID {holder.pid}" in line
        assert "Traceback" not in done.stderr


def test_a_held_warehouse_is_shared_by_other_connections_of_the_same_process(warehouse: Path):
    """The run ledger or a library caller opening the file again inside a command shares the
    held database instead of failing on DuckDB's "different configuration"."""
    import duckdb

    from pipelines.connection import hold_warehouse

    with hold_warehouse() as held:
        assert held is not None
        with duckdb.connect(str(warehouse)) as again:
            again.execute("create table shared as select 42 as answer")
        assert held.execute("select answer from shared").fetchone() == (42,)
        memory = held.execute("select current_setting('memory_limit')").fetchone()
        assert memory == ("244.1 MiB",)  # the sync's cap (256MB), not DuckDB's 80% of RAM
    assert scalar(warehouse, "select answer from shared") == 42
