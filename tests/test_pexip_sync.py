"""Pexip Engage source end to end: simulator over HTTP → dlt → a real DuckDB file."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.pipeline.helpers import pipeline_drop

from pipelines.load.pipeline import make_pipeline, run_source
from pipelines.simulator import Simulator
from tests.holder_helpers import Holder
from tests.utils import Target, assert_ok, configure_pexip, rows, scalar, table_counts

DATASET = "pexip_engage"


def expected_counts(sim: Simulator) -> dict[str, int]:
    """Row counts each raw table must have, computed from the simulator's own records."""
    records = list(sim.pexip.records())
    answers = [a for r in records for a in r["answers"]]
    return {
        "appointments": len(records),
        "appointments__appointment_participants": sum(
            len(r["appointmentParticipants"]) for r in records
        ),
        "appointments__answers": len(answers),
        "appointments__answers__selected_answer_options": sum(
            len(a["selectedAnswerOptions"] or []) for a in answers
        ),
        "appointments__answers__files": sum(len(a["files"] or []) for a in answers),
        "appointments__location": sum(1 for r in records if r["location"] is not None),
    }


def raw_counts(target: Target) -> dict[str, int]:
    counts = table_counts(target, DATASET)
    return {t: n for t, n in counts.items() if not t.startswith("_")}


def sync() -> Any:
    return assert_ok(run_source(DATASET))


def test_first_sync_lands_every_appointment_and_child_row(pexip: Simulator, target: Target):
    result = sync()

    assert raw_counts(target) == expected_counts(pexip)
    assert result.rows["appointments"] == pexip.pexip.count()
    ids = [r[0] for r in rows(target, f"select id from {DATASET}.appointments order by id")]
    assert ids == sorted(pexip.pexip.ids())


def test_loaded_values_match_the_api_exactly(pexip: Simulator, target: Target):
    sync()
    record = next(r for r in pexip.pexip.records() if r["location"] and r["answers"])
    got = rows(
        target,
        f"""select status, meeting_type, office__id, subject__id, hybrid, trailing_buffer_time,
                   updated_at
            from {DATASET}.appointments where id = ?""",
        record["id"],
    )[0]
    got = (*got[:-1], f"{got[-1].astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}"[:-3] + "Z")
    assert got == (
        record["status"],
        record["meetingType"],
        record["office"]["id"],
        record["subject"]["id"],
        record["hybrid"],
        record["trailingBufferTime"],
        record["updatedAt"],
    )
    location = rows(
        target,
        f"""select city__value, postal_code, country_code, geolocation__latitude
            from {DATASET}.appointments__location where appointment_id = ?""",
        record["id"],
    )
    loc = record["location"]
    assert location == [
        (
            loc["city"]["value"] if loc["city"] else None,
            loc["postalCode"],
            loc["countryCode"],
            loc["geolocation"]["latitude"],
        )
    ]
    answer_ids = rows(
        target,
        f"""select id from {DATASET}.appointments__answers
            where appointment_id = ? order by list_index""",
        record["id"],
    )
    assert [r[0] for r in answer_ids] == [a["id"] for a in record["answers"]]


def test_text_survives_the_load_exactly_empty_quoted_multiline_and_unicode(
    pexip: Simulator, target: Target
):
    """Delimiters, quotes, newlines, non-ASCII text and an empty text come back as they were
    sent, and a null stays null, on both destinations (dlt's csv COPY into Postgres would
    load the empty text as null)."""
    first, second = pexip.pexip.ids()[:2]
    tricky = 'a, "quoted"\nsecond line; Grüße 東京 \\ back'
    pexip.pexip.update([first], internalNotes="", messageForCustomer=tricky)
    pexip.pexip.update([second], internalNotes=None, messageForCustomer=",")

    sync()

    got = rows(
        target,
        f"select id, internal_notes, message_for_customer from {DATASET}.appointments "
        "where id in (?, ?) order by id",
        first,
        second,
    )
    assert sorted(got, key=str) == sorted([(first, "", tricky), (second, None, ",")], key=str)


def test_second_sync_over_unchanged_data_writes_nothing(pexip: Simulator, warehouse: Path):
    sync()
    before = raw_counts(warehouse)

    second = sync()

    assert second.rows.get("appointments", 0) == 0
    assert raw_counts(warehouse) == before


def test_second_sync_with_lag_writes_nothing_either(
    pexip: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    configure_pexip(pexip, monkeypatch, lag_seconds=3600)
    sync()

    second = sync()

    assert second.rows.get("appointments", 0) == 0
    assert raw_counts(warehouse) == expected_counts(pexip)


def test_one_percent_updated_writes_exactly_those_rows(pexip: Simulator, target: Target):
    sync()
    first_load = scalar(target, f"select max(_dlt_load_id) from {DATASET}.appointments")
    changed = pexip.pexip.ids()[::100][:3]
    pexip.pexip.update(changed)

    second = sync()

    assert second.rows["appointments"] == len(changed)
    reloaded = rows(
        target,
        f"select id from {DATASET}.appointments where _dlt_load_id > ? order by id",
        first_load,
    )
    assert [r[0] for r in reloaded] == sorted(changed)
    assert raw_counts(target) == expected_counts(pexip)
    dupes = scalar(
        target,
        f"""select count(*) from (select appointment_id, list_index
            from {DATASET}.appointments__answers group by appointment_id, list_index
            having count(*) > 1) as repeated""",
    )
    assert dupes == 0


def test_emptied_answers_and_participants_leave_no_child_rows(pexip: Simulator, target: Target):
    sync()
    emptied = next(r for r in pexip.pexip.records() if r["answers"] and r["location"])
    pexip.pexip.update([emptied["id"]], answers=[], appointmentParticipants=[], location=None)

    result = sync()

    assert result.stale_child_rows_removed > 0
    for table in (
        "appointments__answers",
        "appointments__answers__selected_answer_options",
        "appointments__answers__files",
        "appointments__appointment_participants",
        "appointments__location",
    ):
        left = scalar(
            target,
            f"select count(*) from {DATASET}.{table} where appointment_id = ?",
            emptied["id"],
        )
        assert left == 0, table
    assert raw_counts(target) == expected_counts(pexip)


@pytest.mark.parametrize("lag", [0, 600], ids=["no-lag", "lag-600s"])
def test_rows_sharing_the_boundary_timestamp_are_neither_lost_nor_duplicated(
    pexip: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch, lag: int
):
    configure_pexip(pexip, monkeypatch, lag_seconds=lag)
    ids = pexip.pexip.ids()
    first_batch, second_batch = ids[:4], ids[10:14]
    pexip.pexip.update(first_batch)
    sync()

    pexip.pexip.update(second_batch)  # same clock value: ties with the stored cursor
    result = sync()

    assert result.rows["appointments"] == len(second_batch)
    assert raw_counts(warehouse) == expected_counts(pexip)
    assert scalar(warehouse, f"select count(distinct id) = count(*) from {DATASET}.appointments")


def test_appointments_created_and_deleted_while_paging_are_not_missed(
    pexip: Simulator, target: Target
):
    removed = pexip.pexip.ids()[:3]

    def mutate() -> None:
        pexip.pexip.insert(5)
        pexip.pexip.delete(removed)

    pexip.after_request("pexip", 3, mutate)

    sync()

    current = set(pexip.pexip.ids())
    loaded = {r[0] for r in rows(target, f"select id from {DATASET}.appointments")}
    assert current <= loaded  # nothing the API still has was missed
    assert loaded - current <= set(removed)


def test_drift_that_never_settles_fails_without_moving_the_cursor(
    pexip: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    configure_pexip(pexip, monkeypatch, max_repair_passes=2)
    sync()
    state_before = _cursor_state()
    pexip.pexip.update(pexip.pexip.ids()[:2])
    pexip.reset_counters()
    for k in range(1, 200):
        pexip.after_request("pexip", k, lambda: pexip.pexip.insert(1))

    result = run_source(DATASET)

    assert not result.ok
    assert "kept changing" in (result.error or "")
    assert _cursor_state() == state_before
    updated = scalar(
        warehouse,
        f"select count(*) from {DATASET}.appointments where _dlt_load_id > "
        f"(select min(_dlt_load_id) from {DATASET}.appointments)",
    )
    assert updated == 0


def _cursor_state() -> Any:
    pipeline = dlt.attach(pipeline_name=DATASET)
    resources = pipeline.state["sources"][DATASET]["resources"]
    return resources["appointments"]["incremental"]["updatedAt"]["last_value"]


def test_hard_deleted_appointments_are_marked_not_removed(pexip: Simulator, target: Target):
    sync()
    gone = pexip.pexip.ids()[5:8]
    pexip.pexip.delete(gone)

    result = sync()

    assert result.marked_deleted == len(gone)
    marked = rows(
        target,
        f"select id from {DATASET}.appointments where deleted_at is not null order by id",
    )
    assert [r[0] for r in marked] == sorted(gone)
    assert scalar(target, f"select count(*) from {DATASET}.appointments") == (
        pexip.pexip.count() + len(gone)
    )


def test_windowed_or_filtered_runs_infer_no_deletions(
    pexip: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    sync()
    configure_pexip(pexip, monkeypatch, filters='{"status": ["ACCEPTED"]}')

    result = sync()

    assert result.marked_deleted == 0
    assert (
        scalar(
            warehouse, f"select count(*) from {DATASET}.appointments where deleted_at is not null"
        )
        == 0
    )
    queries = [e["query"] for e in pexip.request_log("pexip")]
    assert any("status%5B%5D=ACCEPTED" in q or "status[]=ACCEPTED" in q for q in queries)


def test_malformed_records_are_quarantined_and_the_rest_of_the_page_loads(
    pexip: Simulator, target: Target
):
    ids = pexip.pexip.ids()
    pexip.pexip.update([ids[1]], drop=("id",))
    pexip.pexip.update([ids[2]], updatedAt="not-a-date")
    pexip.pexip.update([ids[3]], start="31/02/2026")
    pexip.pexip.update([ids[4]], updatedAt=1767225600)  # a number, not a date-time text

    sync()

    quarantined = rows(
        target, f"select record_id, reason, raw_json from {DATASET}._quarantine order by 1"
    )
    assert len(quarantined) == 4
    reasons = {r[0]: r[1] for r in quarantined}
    assert reasons[None] == "missing id"
    assert reasons[ids[2]] == "unparsable date in updatedAt: not-a-date"
    assert "unparsable date" in reasons[ids[3]] and "start" in reasons[ids[3]]
    assert reasons[ids[4]] == "unparsable date in updatedAt: 1767225600"
    assert scalar(target, f"select count(*) from {DATASET}.appointments") == (
        pexip.pexip.count() - 4
    )


def test_records_of_an_unexpected_shape_are_quarantined_not_loaded_half_empty(
    pexip: Simulator, warehouse: Path
):
    ids = pexip.pexip.ids()
    pexip.pexip.update([ids[1]], subject="not-an-object")
    pexip.pexip.update([ids[2]], answers={"not": "a list"})
    pexip.pexip.update([ids[3]], trailingBufferTime="five")

    sync()

    reasons = dict(rows(warehouse, f"select record_id, reason from {DATASET}._quarantine"))
    assert reasons == {
        ids[1]: "unexpected shape: subject is varchar",
        ids[2]: "unexpected shape: answers is object",
        ids[3]: "unexpected shape: trailingBufferTime is varchar",
    }
    raw = scalar(
        warehouse, f"select raw_json from {DATASET}._quarantine where record_id = ?", ids[1]
    )
    assert '"subject":"not-an-object"' in raw
    assert scalar(warehouse, f"select count(*) from {DATASET}.appointments") == (
        pexip.pexip.count() - 3
    )


def test_new_fields_and_unknown_enum_values_load(pexip: Simulator, warehouse: Path):
    target = pexip.pexip.ids()[0]
    pexip.pexip.update([target], status="RESCHEDULED_BY_AI", channelScore=7)

    sync()

    got = rows(
        warehouse, f"select status, channel_score from {DATASET}.appointments where id = ?", target
    )
    assert got == [("RESCHEDULED_BY_AI", "7")]


def test_keys_added_to_a_participant_land_as_columns(pexip: Simulator, warehouse: Path):
    """`participant` is the object the API reference documents as open ("additional
    properties are allowed"); the simulator gives 10% of customers an `externalId`."""
    expected = {
        (r["id"], i): p["participant"].get("externalId")
        for r in pexip.pexip.records()
        for i, p in enumerate(r["appointmentParticipants"])
    }
    assert 0 < sum(v is not None for v in expected.values()) < len(expected)

    sync()
    got = rows(
        warehouse,
        f"""select appointment_id, list_index, participant__external_id
            from {DATASET}.appointments__appointment_participants""",
    )
    assert len(got) == len(expected)
    assert {(a, i): v for a, i, v in got} == expected

    target = pexip.pexip.ids()[0]
    people = pexip.pexip.get(target)["appointmentParticipants"]
    people[0]["participant"] = {**people[0]["participant"], "tier": {"level": 2}}
    pexip.pexip.update([target], appointmentParticipants=people)
    sync()
    got = rows(
        warehouse,
        f"""select list_index, participant__id, participant__tier
            from {DATASET}.appointments__appointment_participants
            where appointment_id = ? order by list_index""",
        target,
    )
    assert got[0] == (0, people[0]["participant"]["id"], '{"level":2}')
    assert [tier for _, _, tier in got[1:]] == [None] * (len(people) - 1)


def test_killed_after_extraction_then_rerun_matches_an_uninterrupted_run(
    pexip: Simulator, target: Target
):
    from pipelines.sources.pexip_engage import pexip_engage

    sync()
    pexip.pexip.update(pexip.pexip.ids()[:5], answers=[])
    pexip.pexip.insert(3)
    pipeline = make_pipeline(DATASET)
    pipeline.extract(pexip_engage())  # the process "dies" here: extracted, never loaded
    assert pipeline.has_pending_data

    sync()

    assert raw_counts(target) == expected_counts(pexip)
    assert scalar(target, f"select count(distinct id) = count(*) from {DATASET}.appointments")


KILLED_BEFORE_CLEAN_UP = """
import importlib, os, signal, sys
pipeline = importlib.import_module("pipelines.load.pipeline")
pipeline.finish_load = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
pipeline.run_source(sys.argv[1])
"""


def test_killed_between_the_load_and_its_clean_up_then_rerun_finishes_the_clean_up(
    pexip: Simulator, target: Target
):
    sync()
    emptied = [r["id"] for r in pexip.pexip.records() if r["answers"]][:5]
    pexip.pexip.update(emptied, answers=[])
    gone = [i for i in pexip.pexip.ids() if i not in emptied][-3:]
    expected = expected_counts(pexip)  # a deleted appointment is marked, its rows all kept
    pexip.pexip.delete(gone)
    stale_answers = f"""select count(*) from {DATASET}.appointments__answers
        where appointment_id in ({", ".join("?" * len(emptied))})"""

    killed = subprocess.run(
        [sys.executable, "-c", KILLED_BEFORE_CLEAN_UP, DATASET],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert scalar(target, stale_answers, *emptied) > 0  # loaded, then killed before clean-up

    result = sync()

    assert result.stale_child_rows_removed > 0
    assert result.marked_deleted == len(gone)
    assert scalar(target, stale_answers, *emptied) == 0
    marked = rows(
        target, f"select id from {DATASET}.appointments where deleted_at is not null order by id"
    )
    assert [r[0] for r in marked] == sorted(gone)
    assert raw_counts(target) == expected


def test_a_load_that_fails_keeps_its_data_for_the_next_run(pexip: Simulator, warehouse: Path):
    sync()
    pexip.pexip.update(pexip.pexip.ids()[:7])
    with Holder(warehouse, read_only=False):  # another process holds the write lock
        failed = run_source(DATASET)

    assert not failed.ok
    recovered = sync()

    assert raw_counts(warehouse) == expected_counts(pexip)
    changed = scalar(
        warehouse,
        f"select count(*) from {DATASET}.appointments where _dlt_load_id = "
        f"(select max(_dlt_load_id) from {DATASET}.appointments)",
    )
    assert changed == 7
    assert recovered.ok


def test_a_reset_cursor_reads_everything_again_and_merges_without_duplicates(
    pexip: Simulator, warehouse: Path
):
    """The backfill the README gives: `apptsync reset pexip_engage` (dlt's `pipeline_drop`
    with `state_only`, the function behind `dlt pipeline ... drop --state-only`), then a sync."""
    sync()
    assert sync().rows.get("appointments", 0) == 0

    pipeline_drop(make_pipeline(DATASET), resources=["appointments"], state_only=True)()
    again = sync()

    assert again.rows["appointments"] == pexip.pexip.count()
    assert raw_counts(warehouse) == expected_counts(pexip)
    loads = scalar(warehouse, f"select count(distinct _dlt_load_id) from {DATASET}.appointments")
    assert loads == 1


def test_a_deleted_warehouse_gets_a_full_sync_despite_the_remembered_cursor(
    pexip: Simulator, warehouse: Path
):
    sync()
    pexip.pexip.update(pexip.pexip.ids()[:2])  # so the remembered cursor would skip the rest
    warehouse.unlink()  # e.g. rebuilt from scratch, or a second checkout of the project

    result = sync()

    assert result.rows["appointments"] == pexip.pexip.count()
    assert raw_counts(warehouse) == expected_counts(pexip)


def test_a_relative_warehouse_path_means_the_current_folder(
    pexip: Simulator, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
):
    """dlt resolves relative DuckDB paths against the folder a pipeline first ran in; a
    second checkout must still get its own, complete warehouse (on a dlt folder of its own:
    sharing the first's is refused, naming the second checkout's file)."""
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", "apptsync.duckdb")
    first, second = isolated_env / "checkout-a", isolated_env / "checkout-b"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    sync()
    pexip.pexip.update(pexip.pexip.ids()[:2])
    monkeypatch.chdir(second)
    shared = run_source(DATASET)
    assert not shared.ok and f"not of duckdb warehouse {second / 'apptsync.duckdb'}:" in (
        shared.error or ""
    )
    monkeypatch.setenv("DLT_DATA_DIR", str(second / "dlt"))

    sync()

    assert raw_counts(second / "apptsync.duckdb") == expected_counts(pexip)


def test_a_start_time_window_loads_only_that_window_and_infers_no_deletions(
    pexip: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    from datetime import datetime

    starts = sorted(r["start"] for r in pexip.pexip.records() if r["start"] and r["end"])
    window_from, window_to = starts[len(starts) // 4], starts[len(starts) // 2]
    configure_pexip(pexip, monkeypatch, window_from=window_from, window_to=window_to)

    def parse(value: str) -> datetime:
        return datetime.fromisoformat(value)

    expected = {
        r["id"]
        for r in pexip.pexip.records()
        if r["start"]
        and r["end"]
        and parse(r["start"]) >= parse(window_from)
        and parse(r["end"]) <= parse(window_to)
    }

    assert 0 < len(expected) < pexip.pexip.count()

    result = sync()

    loaded = {r[0] for r in rows(warehouse, f"select id from {DATASET}.appointments")}
    assert loaded == expected
    assert result.marked_deleted == 0
    query = pexip.request_log("pexip")[0]["query"]
    assert "from=" in query and "to=" in query
