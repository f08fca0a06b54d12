"""Events first: simulator webhooks → receiver → spool → sync → a real DuckDB file (and,
for the merge rules, a Postgres database)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dlt.pipeline.pipeline import Pipeline

from pipelines.load.pipeline import SyncResult, make_pipeline, run_source
from pipelines.simulator import Simulator
from pipelines.sources.pexip_engage import SPEC
from pipelines.webhooks.settings import WebhookSettings
from pipelines.webhooks.spool import DONE, READY
from tests.cli_helpers import apptsync
from tests.holder_helpers import Holder
from tests.utils import Target, assert_ok, rows, scalar
from tests.webhook_helpers import (
    DATASET,
    FAST_RETRIES,
    SECRET,
    assert_warehouse_is_the_api,
    configure_webhooks,
    envelope,
    iso_millis,
    post,
    receiver,
    spooled_ids,
)


@pytest.fixture
def hooks(pexip: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> WebhookSettings:
    """Webhooks on, and a first sync done (it is a full scan: none is on record)."""
    settings = configure_webhooks(pexip, monkeypatch, tmp_path / "spool")
    assert_ok(run_source(DATASET))
    pexip.reset_counters()
    return settings


def sync(full_scan: bool = False) -> SyncResult:
    return assert_ok(run_source(DATASET, full_scan=full_scan))


def test_an_events_only_sync_makes_no_request_and_lands_every_change(
    pexip: Simulator, hooks: WebhookSettings, warehouse: Path
):
    ids = pexip.pexip.ids()
    with receiver(hooks) as url:
        sender = pexip.send_webhooks(url, secret=SECRET, **FAST_RETRIES)
        pexip.pexip.tick(5)
        pexip.pexip.update(ids[:10])
        pexip.pexip.update(ids[3:5], answers=[])
        created = pexip.pexip.insert(4)
        assert sender.wait_idle()
    assert sender.dropped == []

    result = sync()

    assert pexip.request_count("pexip") == 0
    assert result.rows["appointments"] == 14  # 10 updated (2 twice: newest wins), 4 created
    assert_warehouse_is_the_api(pexip, warehouse)
    assert set(created) <= {r[0] for r in rows(warehouse, f"select id from {DATASET}.appointments")}
    assert list((hooks.spool_dir / READY).iterdir()) == []
    assert len(list((hooks.spool_dir / DONE).iterdir())) == 1


def cursor_value(pipeline: Pipeline) -> object:
    resources = pipeline.state["sources"][DATASET]["resources"]
    return resources["appointments"]["incremental"]["updatedAt"]["last_value"]


def test_events_land_with_the_tables_hints_and_leave_the_cursor_where_it_was(
    pexip: Simulator, hooks: WebhookSettings, warehouse: Path
):
    pipeline = make_pipeline(DATASET)
    before = cursor_value(pipeline)
    ids = pexip.pexip.ids()
    with receiver(hooks) as url:
        sender = pexip.send_webhooks(url, secret=SECRET, **FAST_RETRIES)
        pexip.pexip.tick(60)  # every event is newer than the cursor
        pexip.pexip.update(ids[:5])
        assert sender.wait_idle()

    result = sync()

    pipeline = make_pipeline(DATASET)
    assert result.rows["appointments"] == 5
    assert cursor_value(pipeline) == before
    tables = pipeline.default_schema.tables
    assert tables["appointments"]["write_disposition"] == "merge"
    assert [c for c, h in tables["appointments"]["columns"].items() if h.get("primary_key")] == [
        "id"
    ]
    children = [t for t in SPEC.child_columns]
    assert children and all(tables[t]["write_disposition"] == "append" for t in children)
    assert_warehouse_is_the_api(pexip, warehouse)


def notes(warehouse: Target, ident: str) -> str | None:
    return scalar(
        warehouse, f"select internal_notes from {DATASET}.appointments where id = ?", ident
    )


def test_duplicated_and_reordered_deliveries_end_exactly_at_the_api_state(
    pexip: Simulator, target: Target, hooks: WebhookSettings
):
    ids = pexip.pexip.ids()[:6]
    with receiver(hooks) as url:
        sender = pexip.send_webhooks(url, secret=SECRET, **FAST_RETRIES)
        sender.hold()
        sender.duplicate_next(6)
        for _ in range(3):  # three versions of each, newest last
            pexip.pexip.tick(1)
            pexip.pexip.update(ids)
        assert sender.release(order="reversed") == 24  # newest delivered first
        assert sender.wait_idle()

        result = sync()

        assert result.rows["appointments"] == 6
        assert {notes(target, i) for i in ids} == {"Revision 3"}
        assert_warehouse_is_the_api(pexip, target)

        for event in sender.events[:6]:  # the vendor sends a few again, much later
            assert post(url, envelope(event["data"], event["id"], event["type"])) == 200
        again = sync()

    assert "appointments" not in again.rows
    assert_warehouse_is_the_api(pexip, target)
    assert pexip.request_count("pexip") == 0


def test_an_event_older_than_the_row_is_ignored(
    pexip: Simulator, target: Target, hooks: WebhookSettings
):
    ident = pexip.pexip.ids()[0]
    old = pexip.pexip.get(ident)
    pexip.pexip.tick(5)
    pexip.pexip.update([ident])
    sync(full_scan=True)
    assert notes(target, ident) == "Revision 1"

    with receiver(hooks) as url:
        assert post(url, envelope(old, "evt-late-1")) == 200
    result = sync()

    assert "appointments" not in result.rows
    assert notes(target, ident) == "Revision 1"
    assert_warehouse_is_the_api(pexip, target)


def test_a_deletion_event_marks_the_row_and_a_late_update_does_not_revive_it(
    pexip: Simulator, target: Target, hooks: WebhookSettings
):
    doomed = pexip.pexip.ids()[:2]
    before = pexip.pexip.get(doomed[0])
    with receiver(hooks) as url:
        sender = pexip.send_webhooks(url, secret=SECRET, **FAST_RETRIES)
        pexip.pexip.tick(5)
        pexip.pexip.delete(doomed)
        assert sender.wait_idle()
        assert [e["type"] for e in sender.events] == ["DELETE", "DELETE"]

        deleted = sync()
        # an update of the deleted appointment, older than its deletion, arrives late
        assert post(url, envelope(before, "evt-late-update")) == 200
        late = sync()

    assert deleted.marked_deleted == 2
    marked = rows(
        target,
        f"select id, deleted_at from {DATASET}.appointments "
        "where deleted_at is not null order by id",
    )
    marks = [(ident, iso_millis(stamp)) for ident, stamp in marked]
    stamp = sender.events[0]["data"]["updatedAt"]
    assert marks == [(i, stamp) for i in sorted(doomed)]
    assert late.marked_deleted == 0 and "appointments" not in late.rows
    assert_warehouse_is_the_api(pexip, target)  # rows marked deleted are left out
    assert pexip.request_count("pexip") == 0


def test_dropped_deliveries_are_recovered_by_the_next_full_scan(
    pexip: Simulator, hooks: WebhookSettings, warehouse: Path
):
    ids = pexip.pexip.ids()[:8]
    with receiver(hooks) as url:
        sender = pexip.send_webhooks(url, secret=SECRET, **FAST_RETRIES)
        sender.drop_next(3)
        pexip.pexip.tick(5)
        pexip.pexip.update(ids)
        assert sender.wait_idle()
    assert len(sender.dropped) == 3

    partial = sync()
    assert partial.rows["appointments"] == 5
    assert sum(notes(warehouse, i) == "Revision 1" for i in ids) == 5

    full = sync(full_scan=True)

    assert pexip.request_count("pexip") > 0
    # the scan reads every row changed since the last full scan; the five the events
    # brought were remembered with their version (as rows re-read inside the lag are)
    assert full.rows["appointments"] == 3
    assert {notes(warehouse, i) for i in ids} == {"Revision 1"}
    assert_warehouse_is_the_api(pexip, warehouse)


@pytest.mark.parametrize(("every", "scans"), [("24h", False), ("0s", True)], ids=["not-due", "due"])
def test_a_sync_pages_the_collection_only_when_a_full_scan_is_due(
    pexip: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    warehouse: Path,
    every: str,
    scans: bool,
):
    configure_webhooks(pexip, monkeypatch, tmp_path / "spool", full_scan_every=every)
    sync()
    ident = pexip.pexip.ids()[0]
    before = notes(warehouse, ident)
    assert before != "Revision 1"
    pexip.pexip.tick(5)
    pexip.pexip.update([ident])  # no delivery at all: only a scan can see it
    pexip.reset_counters()

    sync()

    assert (pexip.request_count("pexip") > 0) is scans
    assert notes(warehouse, ident) == ("Revision 1" if scans else before)


def test_a_malformed_appointment_in_an_event_is_quarantined(
    pexip: Simulator, hooks: WebhookSettings, warehouse: Path
):
    good = pexip.pexip.get(pexip.pexip.ids()[0])
    with receiver(hooks) as url:
        assert post(url, envelope({"id": "no-version", "status": "ACCEPTED"}, "e1")) == 200
        assert post(url, envelope({**good, "updatedAt": "yesterday"}, "e2")) == 200
    sync()

    quarantined = rows(warehouse, f"select record_id, reason from {DATASET}._quarantine order by 1")
    assert quarantined == [
        (good["id"], "unparsable date in updatedAt: yesterday"),
        ("no-version", "missing updatedAt"),
    ]
    assert_warehouse_is_the_api(pexip, warehouse)


def test_events_spooled_by_a_run_that_never_loaded_are_loaded_by_the_next(
    pexip: Simulator, hooks: WebhookSettings, warehouse: Path
):
    from pipelines.load.pipeline import make_pipeline
    from pipelines.sources.pexip_engage import pexip_engage

    ids = pexip.pexip.ids()[:4]
    with receiver(hooks) as url:
        sender = pexip.send_webhooks(url, secret=SECRET, **FAST_RETRIES)
        pexip.pexip.tick(5)
        pexip.pexip.update(ids)
        assert sender.wait_idle()
    make_pipeline(DATASET).extract(pexip_engage())  # the process "dies" here
    assert len(list((hooks.spool_dir / READY).iterdir())) == 1

    sync()

    assert list((hooks.spool_dir / READY).iterdir()) == []
    assert {notes(warehouse, i) for i in ids} == {"Revision 1"}
    assert_warehouse_is_the_api(pexip, warehouse)


def test_a_failed_sync_leaves_its_events_in_the_spool_for_the_next(
    pexip: Simulator, hooks: WebhookSettings, warehouse: Path
):
    ids = pexip.pexip.ids()[:3]
    with receiver(hooks) as url:
        sender = pexip.send_webhooks(url, secret=SECRET, **FAST_RETRIES)
        pexip.pexip.tick(5)
        pexip.pexip.update(ids)
        assert sender.wait_idle()
    with Holder(warehouse, read_only=False):  # another process holds the write lock
        failed = run_source(DATASET)
    assert not failed.ok
    assert list((hooks.spool_dir / DONE).iterdir()) == []
    assert sorted(spooled_ids(hooks.spool_dir)) == sorted(e["id"] for e in sender.events)

    sync()

    assert {notes(warehouse, i) for i in ids} == {"Revision 1"}
    assert list((hooks.spool_dir / READY).iterdir()) == []
    assert len(list((hooks.spool_dir / DONE).iterdir())) == 1
    assert_warehouse_is_the_api(pexip, warehouse)


@pytest.mark.parametrize(
    ("setting", "value", "key"),
    [
        ("full_scan_every", "soon", "full_scan_every"),
        ("webhook_signature", "md5", "webhook_signature"),
        ("webhook_event_data_path", "payload..x", "webhook_event_data_path"),
        ("webhook_signature_header", "X Sig", "webhook_signature_header"),
        ("filters", '{"status": ["ACCEPTED"]}', "webhooks"),
    ],
    ids=["duration", "scheme", "path", "header", "filters"],
)
def test_bad_webhook_settings_fail_before_the_first_request_naming_the_key(
    pexip: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    setting: str,
    value: str,
    key: str,
):
    configure_webhooks(pexip, monkeypatch, tmp_path / "spool")
    monkeypatch.setenv(f"SOURCES__PEXIP_ENGAGE__{setting.upper()}", value)

    result = run_source(DATASET)

    assert not result.ok
    assert f"'sources.pexip_engage.{key}'" in (result.error or "")
    assert f"SOURCES__PEXIP_ENGAGE__{key.upper()}" in (result.error or "")
    assert pexip.request_count("pexip") == 0


def test_a_delivery_that_arrives_while_a_sync_runs_waits_for_the_next(
    pexip: Simulator, hooks: WebhookSettings, warehouse: Path
):
    ident = pexip.pexip.ids()[-1]
    with receiver(hooks) as url:
        sender = pexip.send_webhooks(url, secret=SECRET, **FAST_RETRIES)
        pexip.pexip.tick(5)
        # during the scan's first request, after the sync claimed the spool
        pexip.after_request("pexip", 1, lambda: pexip.pexip.update([ident]))
        sync(full_scan=True)
        assert sender.wait_idle()
        assert sender.delivered == [sender.events[0]["id"]]
        assert spooled_ids(hooks.spool_dir) == sender.delivered  # active, not committed
        assert list((hooks.spool_dir / READY).iterdir()) == []

        pexip.reset_counters()
        sync()

    assert notes(warehouse, ident) == "Revision 1"
    assert pexip.request_count("pexip") == 0
    assert_warehouse_is_the_api(pexip, warehouse)


def test_apptsync_sync_pages_the_collection_only_with_full_scan(
    pexip: Simulator, hooks: WebhookSettings, warehouse: Path
):
    ident = pexip.pexip.ids()[0]
    before = notes(warehouse, ident)
    pexip.pexip.tick(5)
    pexip.pexip.update([ident])  # never delivered: only a scan can see it
    sync = ("sync", "--source", DATASET, "--no-models")

    events_only = apptsync(*sync)
    assert events_only.returncode == 0, events_only.stderr
    assert pexip.request_count("pexip") == 0
    assert notes(warehouse, ident) == before

    full = apptsync(*sync, "--full-scan")
    assert full.returncode == 0, full.stderr
    assert pexip.request_count("pexip") > 0
    assert notes(warehouse, ident) == "Revision 1"
    assert SECRET not in events_only.stdout + events_only.stderr + full.stdout + full.stderr
