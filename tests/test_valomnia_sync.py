"""Valomnia source end to end: simulator over HTTP → dlt → a real DuckDB file."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipelines.load.pipeline import make_pipeline, run_source
from pipelines.simulator import Simulator
from tests.utils import Target, assert_ok, configure_valomnia, rows, scalar, table_counts

DATASET = "valomnia"


def expected_counts(sim: Simulator) -> dict[str, int]:
    """Row counts each raw table must have, computed from the simulator's own records."""
    records = list(sim.valomnia.records())
    return {
        "appointments": len(records),
        "appointments__contacts": sum(len(r["contacts"] or []) for r in records),
    }


def raw_counts(target: Target) -> dict[str, int]:
    counts = table_counts(target, DATASET)
    return {t: n for t, n in counts.items() if not t.startswith("_")}


def snapshot(target: Target) -> list[tuple[Any, ...]]:
    """Every loaded appointment's business columns, in id order (times in UTC, to the second)."""
    found = rows(
        target,
        f"""select id, last_updated, title, note, done,
                customer_id, customer__reference, customer__name,
                appointment_category_id, appointment_category__reference,
                appointment_category__name, employee_id, employee__reference, employee__name
            from {DATASET}.appointments where deleted_at is null order by id""",
    )
    return [(r[0], f"{r[1].astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}", *r[2:]) for r in found]


def expected_snapshot(sim: Simulator) -> list[tuple[Any, ...]]:
    out = []
    for r in sorted(sim.valomnia.records(), key=lambda r: r["id"]):
        customer, category, employee = (
            r["customer"] or {},
            r["appointmentCategory"] or {},
            r["employee"] or {},
        )
        out.append(
            (
                r["id"],
                r["lastUpdated"],
                r["title"],
                r["note"],
                r["done"],
                r["customerId"],
                customer.get("reference"),
                customer.get("name"),
                r["appointmentCategoryId"],
                category.get("reference"),
                category.get("name"),
                r["employeeId"],
                employee.get("reference"),
                employee.get("name"),
            )
        )
    return out


def contacts(target: Target) -> list[tuple[Any, ...]]:
    return rows(
        target,
        f"""select appointment_id, list_index, id, first_name, last_name, email, phone, mobile,
                customer_reference
            from {DATASET}.appointments__contacts order by appointment_id, list_index""",
    )


def expected_contacts(sim: Simulator) -> list[tuple[Any, ...]]:
    return [
        (
            r["id"],
            i,
            c["id"],
            c["firstName"],
            c["lastName"],
            c["email"],
            c["phone"],
            c["mobile"],
            c["customerReference"],
        )
        for r in sorted(sim.valomnia.records(), key=lambda r: r["id"])
        for i, c in enumerate(r["contacts"] or [])
    ]


def assert_mirrors_the_api(sim: Simulator, target: Target) -> None:
    """The warehouse holds exactly the API's current data: nothing missing, stale or doubled."""
    assert raw_counts(target) == expected_counts(sim)
    assert snapshot(target) == expected_snapshot(sim)
    assert contacts(target) == expected_contacts(sim)


def sync(**kwargs: Any) -> Any:
    return assert_ok(run_source(DATASET, **kwargs))


def appointment_queries(sim: Simulator) -> list[str]:
    return [e["query"] for e in sim.request_log("valomnia") if e["path"].endswith("/appointments")]


def test_first_sync_lands_every_appointment_and_contact(valomnia: Simulator, target: Target):
    result = sync()

    assert result.rows["appointments"] == valomnia.valomnia.count() == 300
    assert_mirrors_the_api(valomnia, target)
    assert "lastUpdated_gte" not in appointment_queries(valomnia)[0]  # no filter on a first run


def test_ids_stay_integers_and_links_are_dropped(valomnia: Simulator, warehouse: Path):
    sync()

    types = dict(
        rows(
            warehouse,
            "select table_name || '.' || column_name, data_type from information_schema.columns "
            "where table_schema = ?",
            DATASET,
        )
    )
    for column in (
        "appointments.id",
        "appointments.customer_id",
        "appointments.customer__id",
        "appointments.appointment_category_id",
        "appointments.appointment_category__id",
        "appointments.employee_id",
        "appointments.employee__id",
        "appointments__contacts.appointment_id",
        "appointments__contacts.id",
    ):
        assert types[column] == "BIGINT", column
    assert types["appointments.last_updated"] == "TIMESTAMP WITH TIME ZONE"
    assert types["appointments__contacts.appointment_updated_at"] == "TIMESTAMP WITH TIME ZONE"
    assert not [c for c in types if "href" in c]
    # A contact can be found by its appointment's id.
    with_contacts = next(r for r in valomnia.valomnia.records() if r["contacts"])
    got = rows(
        warehouse,
        f"select id from {DATASET}.appointments__contacts where appointment_id = ? "
        "order by list_index",
        with_contacts["id"],
    )
    assert [g[0] for g in got] == [c["id"] for c in with_contacts["contacts"]]


def test_second_sync_over_unchanged_data_writes_nothing(valomnia: Simulator, warehouse: Path):
    sync()

    second = sync()

    assert second.rows.get("appointments", 0) == 0
    assert_mirrors_the_api(valomnia, warehouse)


def test_one_percent_updated_writes_exactly_those_rows(valomnia: Simulator, warehouse: Path):
    sync()
    first_load = scalar(warehouse, f"select max(_dlt_load_id) from {DATASET}.appointments")
    cursor = scalar(
        warehouse,
        f"select strftime(max(last_updated), '%Y-%m-%dT%H:%M:%SZ') from {DATASET}.appointments",
    )
    changed = valomnia.valomnia.ids()[::100][:3]
    valomnia.valomnia.tick(5)
    valomnia.valomnia.update(changed)
    valomnia.reset_counters()

    second = sync()

    assert second.rows["appointments"] == len(changed)
    reloaded = rows(
        warehouse,
        f"select id from {DATASET}.appointments where _dlt_load_id > ? order by id",
        first_load,
    )
    assert [r[0] for r in reloaded] == sorted(changed)
    assert_mirrors_the_api(valomnia, warehouse)
    # Server-side incremental: the cursor (lag 0), sorted on lastUpdated, one small page.
    queries = appointment_queries(valomnia)
    assert len(queries) == 1
    assert f"lastUpdated_gte={cursor.replace(':', '%3A')}" in queries[0]
    assert "sort=lastUpdated" in queries[0] and "order=asc" in queries[0]


@pytest.mark.parametrize("lag", [0, 60], ids=["no-lag", "lag-60s"])
def test_rows_sharing_the_boundary_second_are_neither_lost_nor_duplicated(
    valomnia: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch, lag: int
):
    configure_valomnia(valomnia, monkeypatch, lag_seconds=lag)
    ids = valomnia.valomnia.ids()
    first_batch, second_batch = ids[:4], ids[10:14]
    valomnia.valomnia.update(first_batch)
    sync()

    valomnia.valomnia.update(second_batch)  # the same second: ties with the stored cursor
    result = sync()

    assert result.rows["appointments"] == len(second_batch)
    assert_mirrors_the_api(valomnia, warehouse)


def test_the_lag_window_is_asked_of_the_api_in_whole_seconds(
    valomnia: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    configure_valomnia(valomnia, monkeypatch, lag_seconds=90.5)
    sync()
    cursor = scalar(warehouse, f"select max(last_updated) from {DATASET}.appointments")
    valomnia.valomnia.tick()
    valomnia.valomnia.update(valomnia.valomnia.ids()[:2])
    valomnia.reset_counters()

    result = sync()

    assert result.rows["appointments"] == 2  # rows re-read inside the lag are not rewritten
    since = (cursor - timedelta(seconds=91)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"lastUpdated_gte={since.replace(':', '%3A')}&" in appointment_queries(valomnia)[0]
    assert_mirrors_the_api(valomnia, warehouse)


def test_changed_contacts_replace_the_old_child_rows(valomnia: Simulator, target: Target):
    sync()
    records = [r for r in valomnia.valomnia.records() if len(r["contacts"]) >= 2]
    emptied, shortened = records[0], records[1]
    valomnia.valomnia.tick()
    valomnia.valomnia.update([emptied["id"]], contacts=[])
    valomnia.valomnia.update([shortened["id"]], contacts=shortened["contacts"][:1])

    result = sync()

    assert result.stale_child_rows_removed == len(emptied["contacts"]) + len(shortened["contacts"])
    left = scalar(
        target,
        f"select count(*) from {DATASET}.appointments__contacts where appointment_id = ?",
        emptied["id"],
    )
    assert left == 0
    assert_mirrors_the_api(valomnia, target)


def test_malformed_records_are_quarantined_and_the_rest_loads(valomnia: Simulator, target: Target):
    ids = valomnia.valomnia.ids()
    valomnia.valomnia.update([ids[1]], drop=("id",))
    valomnia.valomnia.update([ids[2]], lastUpdated="yesterday")
    valomnia.valomnia.update([ids[3]], startDate="31/02/2026")
    valomnia.valomnia.update([ids[4]], drop=("lastUpdated",))

    sync()

    quarantined = rows(
        target, f"select record_id, reason, raw_json from {DATASET}._quarantine order by 1"
    )
    reasons = {r[0]: r[1] for r in quarantined}
    assert len(quarantined) == 4
    assert reasons[None] == "missing id"
    assert "unparsable date" in reasons[str(ids[2])] and "lastUpdated" in reasons[str(ids[2])]
    assert "unparsable date" in reasons[str(ids[3])] and "startDate" in reasons[str(ids[3])]
    assert reasons[str(ids[4])] == "missing lastUpdated"
    assert scalar(target, f"select count(*) from {DATASET}.appointments") == (
        valomnia.valomnia.count() - 4
    )


def test_new_fields_load_as_new_columns(valomnia: Simulator, warehouse: Path):
    target = valomnia.valomnia.ids()[0]
    valomnia.valomnia.update([target], visitScore=7, checkedIn=True)

    sync()

    got = rows(
        warehouse,
        f"select visit_score, checked_in from {DATASET}.appointments where id = ?",
        target,
    )
    assert got == [("7", "true")]
    assert raw_counts(warehouse) == expected_counts(valomnia)


def test_new_text_fields_load_without_json_quotes(valomnia: Simulator, warehouse: Path):
    target = valomnia.valomnia.ids()[0]
    valomnia.valomnia.update([target], priority="high")

    sync()

    got = rows(warehouse, f"select priority from {DATASET}.appointments where id = ?", target)
    assert got == [("high",)]


def test_reconcile_marks_deleted_appointments_and_never_removes_them(
    valomnia: Simulator, target: Target
):
    sync()
    gone = valomnia.valomnia.ids()[5:10]
    valomnia.valomnia.delete(gone)

    plain = sync()  # off by default: deletions are not inferred from an incremental run

    assert plain.marked_deleted == 0
    valomnia.reset_counters()

    reconciled = sync(reconcile=True)

    assert reconciled.marked_deleted == len(gone)
    assert reconciled.rows.get("appointments", 0) == 0  # unchanged rows are not rewritten
    queries = appointment_queries(valomnia)
    assert "lastUpdated_gte" not in queries[0]  # a full scan from the beginning
    assert len(queries) >= valomnia.valomnia.count() // 25
    marked = rows(
        target, f"select id from {DATASET}.appointments where deleted_at is not null order by 1"
    )
    assert [m[0] for m in marked] == sorted(gone)
    assert scalar(target, f"select count(*) from {DATASET}.appointments") == (
        valomnia.valomnia.count() + len(gone)
    )
    assert snapshot(target) == expected_snapshot(valomnia)

    again = sync(reconcile=True)

    assert again.marked_deleted == 0
    assert scalar(
        target, f"select count(*) from {DATASET}.appointments where deleted_at is not null"
    ) == len(gone)


def test_filters_are_sent_to_the_api(
    valomnia: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    configure_valomnia(valomnia, monkeypatch, customer_reference="Ref-1*")

    sync()

    wanted = sorted(
        r["id"]
        for r in valomnia.valomnia.records()
        if (r["customer"] or {}).get("reference", "").startswith("Ref-1")
    )
    got = rows(warehouse, f"select id from {DATASET}.appointments order by id")
    assert [g[0] for g in got] == wanted
    assert all("customerReference=Ref-1" in q for q in appointment_queries(valomnia))


def test_killed_after_extraction_then_rerun_matches_an_uninterrupted_run(
    valomnia: Simulator, target: Target
):
    from pipelines.sources.valomnia import valomnia as valomnia_source

    sync()
    valomnia.valomnia.tick()
    valomnia.valomnia.update(valomnia.valomnia.ids()[:5], contacts=[])
    valomnia.valomnia.insert(3)
    pipeline = make_pipeline(DATASET)
    pipeline.extract(valomnia_source())  # the process "dies" here: extracted, never loaded
    assert pipeline.has_pending_data

    sync()

    assert_mirrors_the_api(valomnia, target)


def test_failed_midway_then_rerun_matches_an_uninterrupted_run(
    valomnia: Simulator, warehouse: Path
):
    valomnia.after_request("valomnia", 4, lambda: valomnia.faults("valomnia").script(400))

    failed = run_source(DATASET)

    assert not failed.ok
    assert raw_counts(warehouse) == {}  # nothing of the partial extraction was loaded

    sync()

    assert_mirrors_the_api(valomnia, warehouse)
