"""The published copy readers open: a snapshot swapped in atomically after each sync.

Readers are real processes holding DuckDB connections; the syncs are the real `apptsync`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.simulator import Simulator
from tests.cli_helpers import apptsync
from tests.holder_helpers import Holder
from tests.utils import configure_pexip, configure_valomnia, rows, scalar

FCT_COUNT = "select count(*) from reporting.fct_appointments"


@pytest.fixture
def both(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    configure_pexip(simulator, monkeypatch)
    configure_valomnia(simulator, monkeypatch)
    return simulator


@pytest.fixture
def published(isolated_env: Path) -> Path:
    """The default: `<warehouse>.published.duckdb` beside the working warehouse."""
    return isolated_env / "warehouse.published.duckdb"


def appointments(sim: Simulator) -> int:
    return sim.pexip.count() + sim.valomnia.count()


@pytest.mark.parametrize("read_only", [True, False], ids=["read-only", "read-write"])
def test_a_reader_of_the_published_copy_keeps_its_view_while_a_sync_publishes_a_new_one(
    both: Simulator, published: Path, read_only: bool
):
    """DuckDB lets a file have one read-write or many read-only connections, so the two
    kinds of reader are tried one at a time: neither makes the sync fail or wait."""
    first = apptsync("sync")
    assert first.returncode == 0, first.stderr
    before, pexip_before = appointments(both), both.pexip.count()
    assert scalar(published, FCT_COUNT) == before

    with Holder(published, read_only=read_only) as reader:
        assert reader.scalar(FCT_COUNT) == str(before)
        both.pexip.insert(7)
        both.valomnia.insert(3)

        second = apptsync("sync")

        assert second.returncode == 0, second.stderr
        assert f"publish: {published} in" in second.stdout
        assert reader.scalar(FCT_COUNT) == str(before)
        raw = "select count(*) from pexip_engage.appointments"
        assert reader.scalar(raw) == str(pexip_before)
        assert scalar(published, FCT_COUNT) == before + 10  # a new connection: the new copy
    assert scalar(published, FCT_COUNT) == before + 10


def test_a_publish_killed_before_its_swap_leaves_the_previous_copy_intact(
    both: Simulator, published: Path
):
    assert apptsync("sync").returncode == 0
    before, pexip_before = appointments(both), both.pexip.count()
    both.pexip.insert(5)
    assert apptsync("sync", "--no-publish").returncode == 0

    # The real publish in its own process, stopped where its copy is written but not yet
    # swapped in, then killed there: the moment a power cut or an OOM kill would hurt most.
    paused = subprocess.Popen(
        [sys.executable, "-c", _PAUSED_PUBLISH],
        stdin=subprocess.PIPE,  # never written: the child blocks on it until killed
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert paused.stdout is not None
    temporary = Path(paused.stdout.readline().strip())
    assert temporary.parent == published.parent and temporary.stat().st_size > 0
    paused.send_signal(signal.SIGKILL)
    paused.wait(timeout=60)

    assert scalar(published, FCT_COUNT) == before
    assert scalar(published, "select count(*) from pexip_engage.appointments") == pexip_before
    again = apptsync("publish")
    assert again.returncode == 0, again.stderr
    assert scalar(published, FCT_COUNT) == before + 5
    assert not temporary.exists()
    assert sorted(p.name for p in published.parent.glob(f".{published.name}*")) == []


_PAUSED_PUBLISH = """
import sys
import pipelines.publish.snapshot as snapshot
from pipelines.cli import main

def paused(temporary, target):
    print(temporary, flush=True)
    sys.stdin.read()
    raise SystemExit("the test kills this process before it gets here")

snapshot.swap_in = paused
main(["publish"])
"""


def test_publish_copies_nothing_when_nothing_changed(both: Simulator, published: Path, capsys):
    assert main(["sync"]) == 0
    first = os.stat(published).st_ino

    assert main(["sync"]) == 0  # the sources have nothing new
    assert main(["publish"]) == 0

    out = capsys.readouterr().out
    assert out.count(f"publish: {published} is current") == 2
    assert os.stat(published).st_ino == first
    assert main(["publish", "--force"]) == 0
    assert os.stat(published).st_ino != first


def test_publish_sees_a_change_without_a_load_but_not_the_run_ledger_alone(
    both: Simulator, warehouse: Path, published: Path, capsys
):
    """Marking deletions updates rows without a load of their own: that is a change. A new
    row in the ledger (`ops`) alone is not: it is copied with the next change."""
    import duckdb

    assert main(["sync", "--no-publish"]) == 0
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema if not exists ops")  # the ledger made it
        con.execute("create table ops.example_runs as select 1 as run_id")
    assert main(["publish"]) == 0
    with duckdb.connect(str(warehouse)) as con:
        con.execute("insert into ops.example_runs values (2)")
    assert main(["publish"]) == 0
    assert f"publish: {published} is current" in capsys.readouterr().out

    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update valomnia.appointments set deleted_at = now() "
            "where id = (select min(id) from valomnia.appointments)"
        )
    assert main(["publish"]) == 0

    assert f"publish: {published} in" in capsys.readouterr().out
    deleted = "select count(*) from reporting.fct_appointments where is_deleted"
    assert scalar(published, deleted) == 1
    assert scalar(published, "select count(*) from ops.example_runs") == 2


def test_sync_no_publish_leaves_the_published_copy_as_it_was(
    both: Simulator, published: Path, capsys
):
    assert main(["sync"]) == 0
    before = scalar(published, FCT_COUNT)
    both.pexip.insert(4)

    assert main(["sync", "--no-publish"]) == 0

    assert "publish:" not in capsys.readouterr().out.split("models:")[-1]
    assert scalar(published, FCT_COUNT) == before
    assert main(["publish"]) == 0
    assert scalar(published, FCT_COUNT) == before + 4


def test_the_published_copy_answers_every_query_of_the_working_warehouse(
    both: Simulator, warehouse: Path, published: Path
):
    import duckdb

    assert main(["sync", "--no-publish"]) == 0
    with duckdb.connect(str(warehouse)) as con:  # a ledger table, as `ops` holds
        con.execute("create schema if not exists ops")
        con.execute("create table ops.example_runs as select 1 as run_id")
    assert main(["publish"]) == 0

    relations = rows(
        warehouse,
        "select table_schema, table_name, table_type from information_schema.tables "
        "where table_schema not like '%\\_staging' escape '\\' order by 1, 2",
    )
    copied = {
        (schema, name): kind
        for schema, name, kind in rows(
            published,
            "select table_schema, table_name, table_type from information_schema.tables",
        )
    }
    for schema, name, kind in relations:
        # reporting is stored, except a view reading the clock (its age must stay live)
        stored = schema == "reporting" and name != "rpt_sync_health"
        expected = "BASE TABLE" if stored else kind
        assert copied.get((schema, name)) == expected, f"{schema}.{name}"
        sql = f'select * from "{schema}"."{name}" order by all'
        assert rows(published, sql) == rows(warehouse, sql), f"{schema}.{name}"
    assert not [s for s, _ in copied if s.endswith("_staging")]
    assert scalar(published, "select count(*) from ops.published_snapshot") == 1
    comment = "select comment from duckdb_tables() where table_name = 'fct_appointments'"
    assert scalar(published, comment).startswith("One row per appointment")


def test_publish_path_is_configurable(both: Simulator, isolated_env: Path, monkeypatch, capsys):
    elsewhere = isolated_env / "for-bi" / "appointments.duckdb"
    monkeypatch.setenv("APPTSYNC__PUBLISH_PATH", str(elsewhere))

    assert main(["sync"]) == 0

    assert f"publish: {elsewhere} in" in capsys.readouterr().out
    assert scalar(elsewhere, FCT_COUNT) == appointments(both)
