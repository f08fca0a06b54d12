"""A dlt working folder belongs to one warehouse: a project sharing it cannot take its cursor.

Two checkouts on one machine share `~/.dlt` (or `/var/dlt` as root) unless told otherwise,
and with it the pipelines `pexip_engage` and `valomnia`. dlt wipes the folder's state for a
warehouse that has no dataset yet, but a second warehouse whose own state is older than the
folder's would start from the other project's cursor, and one project's pending packages
would load into the other's warehouse: so sharing is refused outright.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pipelines.cli import main
from pipelines.load.pipeline import make_pipeline, run_source
from pipelines.load.working_folder import MARKER
from pipelines.simulator import Simulator
from tests import test_pexip_sync
from tests.utils import Target, assert_ok, is_server, scalar

SOURCE = test_pexip_sync.DATASET


def marker() -> Path:
    return Path(make_pipeline(SOURCE).working_dir) / MARKER


def test_a_second_warehouse_on_the_same_dlt_folder_is_refused_before_any_request(
    pexip: Simulator, target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    assert_ok(run_source(SOURCE))
    first = json.loads(marker().read_text(encoding="utf-8"))
    other = tmp_path / "other_project" / "apptsync.duckdb"
    other.parent.mkdir()
    monkeypatch.setenv("APPTSYNC__DESTINATION", "duckdb")
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(other))
    pexip.pexip.insert(5)
    pexip.reset_counters()

    refused = run_source(SOURCE)

    assert not refused.ok and refused.config_error
    assert refused.error == (
        f"WorkingFolderTaken: the dlt folder {make_pipeline(SOURCE).working_dir} holds the "
        f"sync state of {first['destination']} warehouse {first['warehouse']}, not of "
        f"duckdb warehouse {other}: another project shares DLT_DATA_DIR "
        f"({tmp_path / 'dlt' / 'pipelines'}); give each project its own DLT_DATA_DIR, or, if "
        f"this warehouse was moved there, delete {marker()}"
    )
    if is_server(target):
        url = urlsplit(str(target))
        assert first["warehouse"] == f"postgresql://{url.hostname}:{url.port}{url.path}"
        password = url.password or ""
        assert password not in refused.error and password not in marker().read_text()
    assert pexip.request_count("pexip") == 0
    landed = scalar(
        other,
        "select count(*) from information_schema.tables where table_schema = ?",
        SOURCE,
    )
    assert landed == 0  # nothing synced; the run is in that warehouse's ledger, failed
    assert scalar(other, "select count(*) from ops.sync_runs where outcome = 'failed'") == 1
    assert json.loads(marker().read_text(encoding="utf-8")) == first
    assert main(["sync", "--no-models", "--source", SOURCE]) == 2  # a setting to fix


def test_the_first_warehouse_keeps_syncing_on_its_own_folder(pexip: Simulator, target: Target):
    assert_ok(run_source(SOURCE))
    pexip.pexip.insert(5)

    again = assert_ok(run_source(SOURCE))

    assert again.rows["appointments"] == 5
    assert scalar(target, f"select count(*) from {SOURCE}.appointments") == pexip.pexip.count()


def test_a_folder_without_a_record_is_claimed_by_the_next_sync(pexip: Simulator, warehouse: Path):
    """State written before apptsync kept the record, or a moved warehouse adopted by
    deleting it, as the refusal says."""
    assert_ok(run_source(SOURCE))
    marker().unlink()

    assert_ok(run_source(SOURCE))

    assert json.loads(marker().read_text(encoding="utf-8")) == {
        "destination": "duckdb",
        "warehouse": str(warehouse),
    }
