"""`apptsync feeds DIR`: every reporting model as a file plus manifest.json, swapped in whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from pipelines.models import SQL_DIR
from pipelines.sources import SOURCES
from tests.cli_helpers import apptsync
from tests.report_helpers import (
    QUARANTINED_PEXIP,
    add_ledger,
    cli_env,
    copy_warehouse,
    count,
    has_ledger,
    reporting_views,
    small_warehouse,
)

MODEL_FILES = sorted(path.stem for path in (SQL_DIR / "reporting").glob("*.sql"))


@pytest.fixture(scope="session")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_warehouse(tmp_path_factory)


@pytest.fixture
def warehouse_copy(synced: Path, tmp_path: Path) -> Path:
    return copy_warehouse(synced, tmp_path)


def manifest_of(feed: Path) -> dict[str, Any]:
    return json.loads((Path(os.path.realpath(feed)) / "manifest.json").read_text())


def file_rows(path: Path) -> int:
    if path.suffix == ".parquet":
        return pq.read_metadata(path).num_rows
    with duckdb.connect() as con:
        row = con.execute("select count(*) from read_csv(?, header = true)", [str(path)])
        return int(row.fetchone()[0])  # type: ignore[index]


def assert_complete(feed: Path) -> dict[str, Any]:
    """The folder `feed` resolves to holds exactly the manifest's files, each with its rows."""
    folder = Path(os.path.realpath(feed))
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = {entry["file"]: entry["rows"] for entry in manifest["models"]}
    assert sorted(os.listdir(folder)) == sorted([*listed, "manifest.json"])
    assert {name: file_rows(folder / name) for name in listed} == listed
    return manifest


@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_feeds_hold_every_reporting_model_with_the_warehouse_rows_and_types(
    synced: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], file_format: str
):
    feed = tmp_path / "feeds"

    assert main(["feeds", str(feed), "--format", file_format, "--database", str(synced)]) == 0

    views = reporting_views(synced)
    assert sorted(views) == MODEL_FILES
    manifest = assert_complete(feed)
    assert manifest["format"] == file_format
    assert manifest["database"] == str(synced)
    by_model = {entry["model"]: entry for entry in manifest["models"]}
    assert sorted(by_model) == [f"reporting.{name}" for name in MODEL_FILES]
    for name, columns in views.items():
        entry = by_model[f"reporting.{name}"]
        assert entry["file"] == f"{name}.{file_format}"
        assert entry["rows"] == count(synced, f"select count(*) from reporting.{name}")
        assert [(c["name"], c["type"]) for c in entry["columns"]] == columns
    fct = by_model["reporting.fct_appointments"]["rows"]
    assert fct == 2 * 200 - QUARANTINED_PEXIP
    total = sum(entry["rows"] for entry in manifest["models"])
    assert f"{len(MODEL_FILES)} models, {total} rows as {file_format}" in capsys.readouterr().out


def test_parquet_feed_keeps_the_column_types(synced: Path, tmp_path: Path):
    feed = tmp_path / "feeds"
    assert main(["feeds", str(feed), "--database", str(synced)]) == 0

    with duckdb.connect() as con:
        parquet = con.execute(
            "describe select * from read_parquet(?)", [str(feed / "fct_appointments.parquet")]
        ).fetchall()
    assert [(c[0], c[1]) for c in parquet] == reporting_views(synced)["fct_appointments"]


def test_manifest_names_each_source_last_complete_load_and_quarantine(synced: Path, tmp_path: Path):
    feed = tmp_path / "feeds"
    assert main(["feeds", str(feed), "--database", str(synced)]) == 0

    manifest = manifest_of(feed)
    assert list(manifest["sources"]) == list(SOURCES)
    ledger = has_ledger(synced)
    assert manifest["runs_from"] == ("ledger" if ledger else "dlt_loads")
    for name, fresh in manifest["sources"].items():
        with duckdb.connect(str(synced), read_only=True) as con:
            con.execute("set TimeZone = 'UTC'")
            load_id, inserted_at, loads = con.execute(
                f"select max(load_id), max(inserted_at), count(*) from {name}._dlt_loads "
                "where status = 0"
            ).fetchone()  # type: ignore[misc]
            cursor = SOURCES[name].cursor_column
            newest = con.execute(f"select max({cursor}) from {name}.appointments").fetchone()
        assert fresh["last_load_id"] == load_id
        assert fresh["last_load_at"] == inserted_at.isoformat()
        assert fresh["loads"] == loads == 1
        assert fresh["newest_update_at"] == newest[0].isoformat()  # type: ignore[index]
        assert (fresh["last_run_status"] == "ok") if ledger else (fresh["last_run_at"] is None)
    quarantined = {name: fresh["quarantined"] for name, fresh in manifest["sources"].items()}
    assert quarantined == {"pexip_engage": QUARANTINED_PEXIP, "valomnia": 0}


def test_manifest_shows_the_run_ledger_when_the_warehouse_has_one(
    warehouse_copy: Path, tmp_path: Path
):
    add_ledger(
        warehouse_copy,
        [
            ("pexip_engage", "2026-01-01T10:00:00+00:00", "ok"),
            ("pexip_engage", "2026-01-02T10:00:00+00:00", "failed"),
            ("valomnia", "2026-01-02T09:00:00+00:00", "ok"),
        ],
    )
    feed = tmp_path / "feeds"
    assert main(["feeds", str(feed), "--database", str(warehouse_copy)]) == 0

    manifest = manifest_of(feed)
    assert manifest["runs_from"] == "ledger"
    last = {
        name: (f["last_run_at"], f["last_run_status"]) for name, f in manifest["sources"].items()
    }
    assert last == {
        "pexip_engage": ("2026-01-02T10:00:00+00:00", "failed"),
        "valomnia": ("2026-01-02T09:00:00+00:00", "ok"),
    }


def test_feeds_read_the_published_copy_when_it_exists(
    synced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    working = copy_warehouse(synced, tmp_path, "working.duckdb")
    published = tmp_path / "published.duckdb"
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(working))
    monkeypatch.setenv("APPTSYNC__PUBLISH_PATH", str(published))
    assert main(["feeds", str(tmp_path / "before")]) == 0
    copy_warehouse(synced, tmp_path, published.name)
    with duckdb.connect(str(published)) as con:
        con.execute("delete from valomnia.appointments")

    assert main(["feeds", str(tmp_path / "after")]) == 0

    assert manifest_of(tmp_path / "before")["database"] == str(working)
    after = manifest_of(tmp_path / "after")
    assert after["database"] == str(published)
    rows = {entry["model"]: entry["rows"] for entry in after["models"]}
    assert rows["reporting.fct_appointments"] == 200 - QUARANTINED_PEXIP


def test_a_rerun_swaps_in_the_new_feed_and_keeps_only_the_previous_version(
    warehouse_copy: Path, tmp_path: Path
):
    feed = tmp_path / "feeds"
    versions = []
    for _ in range(3):
        assert main(["feeds", str(feed), "--database", str(warehouse_copy)]) == 0
        versions.append(os.readlink(feed))

    assert feed.is_symlink() and len(set(versions)) == 3
    kept = sorted(p.name for p in tmp_path.glob(".feeds.v*"))
    assert kept == sorted(versions[1:])
    assert_complete(feed)


def test_a_run_killed_before_the_swap_leaves_the_previous_feed_whole(
    warehouse_copy: Path, tmp_path: Path
):
    feed = tmp_path / "feeds"
    assert main(["feeds", str(feed), "--database", str(warehouse_copy)]) == 0
    before = assert_complete(feed)
    with duckdb.connect(str(warehouse_copy)) as con:
        con.execute("delete from valomnia.appointments")

    killed = subprocess.run(
        [sys.executable, "-c", KILLED_BEFORE_SWAP, str(feed), str(warehouse_copy)],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert killed.returncode == -9, killed.stderr
    assert assert_complete(feed) == before  # the link still names the old, whole feed
    leftovers = [p for p in tmp_path.glob(".feeds.v*") if p.name != os.readlink(feed)]
    assert len(leftovers) == 1  # the killed run's folder, never linked

    assert main(["feeds", str(feed), "--database", str(warehouse_copy)]) == 0
    after = assert_complete(feed)
    rows = {entry["model"]: entry["rows"] for entry in after["models"]}
    assert rows["reporting.fct_appointments"] == 200 - QUARANTINED_PEXIP
    assert not leftovers[0].exists()


KILLED_BEFORE_SWAP = """
import os, signal, sys
from pipelines.publish import feeds
feeds.swap_in = lambda link, version: os.kill(os.getpid(), signal.SIGKILL)
feeds.write_feeds(sys.argv[1], database=sys.argv[2])
"""


def test_a_reader_during_a_rerun_sees_either_the_old_or_the_new_feed_whole(
    warehouse_copy: Path, tmp_path: Path
):
    feed = tmp_path / "feeds"
    assert main(["feeds", str(feed), "--database", str(warehouse_copy)]) == 0
    old = manifest_of(feed)["published_at"]
    seen: list[str] = []
    running = threading.Event()
    running.set()

    def read_while_running() -> None:
        while running.is_set():
            seen.append(assert_complete(feed)["published_at"])
            time.sleep(0.02)  # pacing only: leave the feeds run some CPU

    reader = threading.Thread(target=read_while_running)
    reader.start()
    try:
        done = apptsync(
            "feeds",
            str(feed),
            "--database",
            str(warehouse_copy),
            env=cli_env(tmp_path, warehouse_copy),
            cwd=tmp_path,
        )
    finally:
        running.clear()
        reader.join()

    assert done.returncode == 0, done.stderr
    new = assert_complete(feed)["published_at"]
    assert new != old
    assert seen and set(seen) <= {old, new}
    assert seen == sorted(seen, key=[old, new].index)  # never back to the old one


def test_feeds_refuse_to_replace_a_folder_that_is_not_a_feed(
    synced: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")

    assert main(["feeds", str(folder), "--database", str(synced)]) == 1

    assert "refusing to replace it" in capsys.readouterr().err
    assert (folder / "notes.txt").read_text() == "keep me"
    assert not list(tmp_path.glob(".mine.v*"))


def test_feeds_without_a_warehouse_fail_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["feeds", str(tmp_path / "feeds")]) == 2

    err = capsys.readouterr().err
    assert err.startswith("error: no warehouse at ") and err.count("\n") == 1
    assert not (tmp_path / "feeds").exists()
