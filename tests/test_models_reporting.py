"""Reporting models, given the scenario's raw rows (see model_fixtures.py): the exact rows of
every fact, dimension and rollup, and the same models on an empty or one-source warehouse;
every test runs on DuckDB and on Postgres (the models transpiled by sqlglot)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from dlt.destinations.sql_client import SqlClientBase

from pipelines.models import build_models, discover
from tests.model_fixtures import (
    PEXIP,
    VALOMNIA,
    Warehouse,
    column_comments,
    create_raw_tables,
    insert,
    load_scenario,
    new_warehouse,
    query,
    ts,
    typed_columns,
    view_comment,
)

REPORTING = sorted(m.name for m in discover() if m.schema == "reporting")
VOCABULARY = {"requested", "scheduled", "completed", "cancelled", "no_show"}
TZ = "TIMESTAMP WITH TIME ZONE"


@pytest.fixture(scope="module")
def scenario(
    model_destination: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Warehouse]:
    for warehouse in new_warehouse(
        model_destination, tmp_path_factory.mktemp("reporting"), request
    ):
        with warehouse.client() as client:
            load_scenario(client)
            build_models(client)
        yield warehouse


@pytest.fixture
def client(scenario: Warehouse) -> Iterator[SqlClientBase[Any]]:
    with scenario.client() as opened:
        yield opened


def test_reporting_models_are_the_agreed_ones() -> None:
    assert REPORTING == [
        "dim_customers",
        "dim_locations",
        "fct_appointment_answers",
        "fct_appointment_participants",
        "fct_appointments",
        "rpt_answer_distribution",
        "rpt_daily_appointments",
        "rpt_employee_workload",
        "rpt_lead_time",
        "rpt_sync_health",
        "rpt_weekly_no_show_rate",
    ]


# fct_appointments

FCT_COLUMNS = [
    ("source", "VARCHAR"),
    ("appointment_key", "VARCHAR"),
    ("appointment_id", "VARCHAR"),
    ("external_id", "VARCHAR"),
    ("title", "VARCHAR"),
    ("starts_at", TZ),
    ("ends_at", TZ),
    ("duration_minutes", "DOUBLE"),
    ("status", "VARCHAR"),
    ("source_status", "VARCHAR"),
    ("meeting_type", "VARCHAR"),
    ("category", "VARCHAR"),
    ("office_id", "VARCHAR"),
    ("subject_id", "VARCHAR"),
    ("customer_id", "VARCHAR"),
    ("employee_id", "VARCHAR"),
    ("created_at", TZ),
    ("updated_at", TZ),
    ("lead_time_hours", "DOUBLE"),
    ("is_deleted", "BOOLEAN"),
]

# source, key, id, external_id, title, starts, ends, minutes, status, source_status,
# meeting_type, category, office, subject, customer, employee, created, updated, lead, deleted
FCT_ROWS = [
    ("pexip_engage", "pexip_engage:p1", "p1", "EXT-1", None,
     ts("2024-03-04 09:00"), ts("2024-03-04 10:00"), 60.0, "scheduled", "ACCEPTED",
     "OFFICE", None, "o1", "s1", "c1", "e1",
     ts("2024-03-01 09:00"), ts("2024-03-02 09:00"), 72.0, False),
    # no PRIMARY participants: the first customer and employee stand in
    ("pexip_engage", "pexip_engage:p2", "p2", None, None,
     ts("2024-03-05 14:00"), ts("2024-03-05 14:30"), 30.0, "no_show", "NO_SHOW",
     "VIDEO", None, "o1", "s1", "c3", "e2",
     ts("2024-03-05 08:00"), ts("2024-03-05 15:00"), 6.0, False),
    # the PRIMARY employee wins over a SECONDARY one listed first
    ("pexip_engage", "pexip_engage:p3", "p3", None, None,
     ts("2024-03-06 23:30"), ts("2024-03-07 01:00"), 90.0, "completed", "COMPLETED",
     "OFFICE", None, "o2", "s2", "c1", "e1",
     ts("2024-03-04 10:00"), ts("2024-03-07 02:00"), 61.5, False),
    # no start, no end, participants emptied
    ("pexip_engage", "pexip_engage:p4", "p4", None, None,
     None, None, None, "requested", "INCOMING_REQUEST",
     "PHONE", None, "o1", "s1", None, None,
     ts("2024-03-03 12:00"), ts("2024-03-03 12:00"), None, False),
    ("pexip_engage", "pexip_engage:p5", "p5", None, None,
     ts("2024-03-07 09:00"), ts("2024-03-07 09:45"), 45.0, "cancelled", "CANCELLED",
     "OFFICE", None, "o1", "s1", None, "e1",
     ts("2024-03-06 09:00"), ts("2024-03-06 18:00"), 24.0, False),
    ("pexip_engage", "pexip_engage:p6", "p6", None, None,
     ts("2024-03-04 11:00"), ts("2024-03-04 12:00"), 60.0, "scheduled", "ACCEPTED",
     "ON_LOCATION", None, "o1", "s1", "c4", "e1",
     ts("2024-03-02 11:00"), ts("2024-03-02 11:00"), 48.0, True),
    ("pexip_engage", "pexip_engage:p8", "p8", None, None,
     ts("2024-03-08 10:00"), ts("2024-03-08 10:30"), 30.0, "completed", "COMPLETED",
     "VIDEO", None, "o1", "s1", "c3", "e2",
     ts("2024-03-07 10:00"), ts("2024-03-08 11:00"), 24.0, False),
    ("valomnia", "valomnia:1", "1", None, "Price negotiation",
     ts("2024-03-04 13:00"), ts("2024-03-04 13:10"), 10.0, "completed", "done",
     None, "Phone call", None, None, "19", "7",
     ts("2024-03-01 13:00"), ts("2024-03-02 13:00"), 72.0, False),
    # only the flat customerId and employeeId are set
    ("valomnia", "valomnia:2", "2", None, "Control merchandise",
     ts("2024-03-05 05:00"), ts("2024-03-05 05:00"), 0.0, "scheduled", "open",
     None, "Autre", None, None, "19", "8",
     ts("2024-03-04 05:00"), ts("2024-03-12 08:00"), 24.0, False),
    # customer.id without customerId; employee.id wins over employeeId
    ("valomnia", "valomnia:3", "3", None, "Old visit",
     ts("2024-03-06 08:00"), ts("2024-03-06 09:00"), 60.0, "completed", "done",
     None, None, None, None, "20", "9",
     ts("2024-03-01 08:00"), ts("2024-03-01 08:00"), 120.0, True),
    ("valomnia", "valomnia:4", "4", None, "Follow-up",
     ts("2024-03-11 08:00"), ts("2024-03-11 09:00"), 60.0, "scheduled", "open",
     None, "Visit", None, None, "19", "7",
     ts("2024-03-10 08:00"), ts("2024-03-10 08:00"), 24.0, False),
]  # fmt: skip


def test_fct_appointments(client: SqlClientBase[Any]) -> None:
    assert typed_columns(client, "reporting.fct_appointments") == FCT_COLUMNS
    assert (
        query(client, "select * from reporting.fct_appointments order by appointment_key")
        == FCT_ROWS
    )


def test_lead_time_and_duration_are_rounded_to_two_decimals(fresh: SqlClientBase[Any]) -> None:
    create_raw_tables(fresh)
    insert(
        fresh,
        VALOMNIA,
        "appointments",
        [
            {
                "id": 1,
                "done": False,
                "date_created": ts("2024-03-01 09:00:00"),
                "start_date": ts("2024-03-02 10:20:00"),  # 25 h 20 min later: 25.333... h
                "end_date": ts("2024-03-02 10:30:10"),  # 10 min 10 s: 10.1666... min
            },
            {
                "id": 2,
                "done": False,
                # 865.795 h exactly: a tie, which a double rounds down (865.79499...)
                "date_created": ts("2024-08-12 16:07:18"),
                "start_date": ts("2024-09-17 17:55:00"),
            },
        ],
    )
    build_models(fresh)
    assert query(
        fresh,
        "select lead_time_hours, duration_minutes from reporting.fct_appointments"
        " order by appointment_id",
    ) == [(25.33, 10.17), (865.8, None)]  # the same on every destination
    assert query(
        fresh,
        "select lead_time_hours_p25, lead_time_hours_avg from reporting.rpt_lead_time",
    ) == [(235.45, 445.57)]  # 25.33 + (865.8 - 25.33) / 4; (25.33 + 865.8) / 2 = 445.565


PEXIP_STATUSES = [
    ("INCOMING_REQUEST", "requested"),
    ("OUTGOING_INVITE", "requested"),
    ("ALTERNATIVE_DATE_REQUESTED", "requested"),
    ("ACCEPTED", "scheduled"),
    ("COMPLETED", "completed"),
    ("CANCELLED", "cancelled"),
    ("NO_SHOW", "no_show"),
    ("RESCHEDULED_BY_ROBOT", "unmapped"),  # a new enum value from the vendor
    (None, "unmapped"),
]


def test_every_status_maps_to_the_vocabulary(fresh: SqlClientBase[Any]) -> None:
    create_raw_tables(fresh)
    insert(
        fresh,
        PEXIP,
        "appointments",
        [{"id": f"s{i}", "status": status} for i, (status, _) in enumerate(PEXIP_STATUSES)],
    )
    insert(
        fresh,
        VALOMNIA,
        "appointments",
        [{"id": 1, "done": True}, {"id": 2, "done": False}, {"id": 3, "done": None}],
    )
    build_models(fresh, select="fct_appointments")
    got = query(
        fresh,
        "select source, appointment_id, source_status, status"
        " from reporting.fct_appointments order by source, appointment_id",
    )
    assert got == [
        ("pexip_engage", f"s{i}", status, mapped)
        for i, (status, mapped) in enumerate(PEXIP_STATUSES)
    ] + [
        ("valomnia", "1", "done", "completed"),
        ("valomnia", "2", "open", "scheduled"),
        ("valomnia", "3", None, "unmapped"),
    ]
    mapped = {row[3] for row in got if row[3] != "unmapped"}
    assert mapped == VOCABULARY


# child facts and dimensions


def test_fct_appointment_participants(client: SqlClientBase[Any]) -> None:
    rows = query(
        client,
        "select * from reporting.fct_appointment_participants"
        " where appointment_key in ('pexip_engage:p1', 'pexip_engage:p6', 'valomnia:1',"
        " 'valomnia:3') order by appointment_key, participant_index",
    )
    assert rows == [
        ("pexip_engage", "pexip_engage:p1", "p1", 0, "e1", "employee", "primary",
         None, None, None, None, None, None, "https://v/e1", "https://t/e1", False),
        ("pexip_engage", "pexip_engage:p1", "p1", 1, "c1", "customer", "primary",
         None, None, None, None, None, None, "https://v/c1", None, False),
        ("pexip_engage", "pexip_engage:p1", "p1", 2, "c2", "customer", "secondary",
         None, None, None, None, None, None, None, None, False),
        ("pexip_engage", "pexip_engage:p6", "p6", 0, "e1", "employee", "primary",
         None, None, None, None, None, None, None, None, True),
        ("pexip_engage", "pexip_engage:p6", "p6", 1, "c4", "customer", "primary",
         None, None, None, None, None, None, None, None, True),
        ("valomnia", "valomnia:1", "1", 0, "100", "contact", None,
         "Ann", "Smith", "ann@example.com", "+32 9 000 00 00", "+32 470 00 00 00", "BATAM",
         None, None, False),
        ("valomnia", "valomnia:1", "1", 1, "101", "contact", None,
         "Bob", None, None, None, None, None, None, None, False),
        ("valomnia", "valomnia:3", "3", 0, "102", "contact", None,
         None, "Gone", None, None, None, None, None, None, True),
    ]  # fmt: skip
    assert query(client, "select count(*) from reporting.fct_appointment_participants") == [(16,)]
    assert query(
        client,
        "select count(*) from reporting.fct_appointment_participants"
        " where appointment_key = 'pexip_engage:p4'",
    ) == [(0,)]


def test_fct_appointment_answers_with_options_and_files(client: SqlClientBase[Any]) -> None:
    assert [name for name, _ in typed_columns(client, "reporting.fct_appointment_answers")] == [
        "source",
        "appointment_key",
        "appointment_id",
        "answer_id",
        "answer_index",
        "form_id",
        "question_id",
        "answer_type",
        "answer_value",
        "selected_option_ids",
        "selected_option_count",
        "file_ids",
        "file_count",
        "created_at",
        "updated_at",
        "is_deleted",
    ]
    created, updated = ts("2024-03-01 09:05"), ts("2024-03-01 09:06")
    assert query(
        client, "select * from reporting.fct_appointment_answers order by answer_id"
    ) == [
        ("pexip_engage", "pexip_engage:p1", "p1", "a1", 0, "f1", "q1", "SUBJECT_QUESTIONNAIRE",
         "A colleague", ["o-1"], 1, ["file-1", "file-2"], 2, created, updated, False),
        ("pexip_engage", "pexip_engage:p1", "p1", "a2", 1, "f2", "q2", "QUALIFICATION",
         "Need a loan", [], 0, [], 0, created, updated, False),
        ("pexip_engage", "pexip_engage:p2", "p2", "a3", 0, "f1", "q1", "SUBJECT_QUESTIONNAIRE",
         "A colleague", ["o-1"], 1, [], 0, created, updated, False),
        ("pexip_engage", "pexip_engage:p3", "p3", "a5", 0, "f1", "q1", "SUBJECT_QUESTIONNAIRE",
         None, ["o-3", "o-2"], 2, [], 0, created, updated, False),
        ("pexip_engage", "pexip_engage:p6", "p6", "a6", 0, "f1", "q1", "SUBJECT_QUESTIONNAIRE",
         "A colleague", ["o-1"], 1, [], 0, created, updated, True),
    ]  # fmt: skip


def test_dim_locations(client: SqlClientBase[Any]) -> None:
    assert query(client, "select * from reporting.dim_locations order by appointment_key") == [
        ("pexip_engage:p1", "pexip_engage", "p1", "Korenmarkt 1, 9000 Gent", "Korenmarkt 1",
         None, "9000", "Gent", "Oost-Vlaanderen", "BE", "nl", 51.0479466, 3.6912248, False),
        ("pexip_engage:p6", "pexip_engage", "p6", "Rue Neuve 2, Bruxelles", "Rue Neuve 2",
         None, None, None, None, "BE", "fr", 50.85, 4.35, True),
    ]  # fmt: skip


def test_dim_customers(client: SqlClientBase[Any]) -> None:
    assert query(client, "select * from reporting.dim_customers order by customer_key") == [
        ("pexip_engage:c1", "pexip_engage", "c1", None, None, 2,
         ts("2024-03-04 09:00"), ts("2024-03-06 23:30")),
        # only ever a SECONDARY customer: no appointment is theirs
        ("pexip_engage:c2", "pexip_engage", "c2", None, None, 0, None, None),
        ("pexip_engage:c3", "pexip_engage", "c3", None, None, 2,
         ts("2024-03-05 14:00"), ts("2024-03-08 10:00")),
        # only on a deleted appointment
        ("pexip_engage:c4", "pexip_engage", "c4", None, None, 0, None, None),
        # name from the latest appointment that carries it (v4), not the latest one (v2)
        ("valomnia:19", "valomnia", "19", "BATAM", "BATAM Store", 3,
         ts("2024-03-04 13:00"), ts("2024-03-11 08:00")),
        ("valomnia:20", "valomnia", "20", "R20", "Shop 20", 0, None, None),
    ]  # fmt: skip


# rollups


def test_rpt_daily_appointments(client: SqlClientBase[Any]) -> None:
    assert query(
        client,
        "select * from reporting.rpt_daily_appointments"
        " order by appointment_date nulls first, source, status",
    ) == [
        (None, "pexip_engage", "requested", 1, 0.0),
        (date(2024, 3, 4), "pexip_engage", "scheduled", 1, 1.0),  # p6 is deleted
        (date(2024, 3, 4), "valomnia", "completed", 1, 0.17),
        (date(2024, 3, 5), "pexip_engage", "no_show", 1, 0.5),
        (date(2024, 3, 5), "valomnia", "scheduled", 1, 0.0),
        (date(2024, 3, 6), "pexip_engage", "completed", 1, 1.5),  # v3 is deleted
        (date(2024, 3, 7), "pexip_engage", "cancelled", 1, 0.75),
        (date(2024, 3, 8), "pexip_engage", "completed", 1, 0.5),
        (date(2024, 3, 11), "valomnia", "scheduled", 1, 1.0),
    ]


def test_rollup_days_are_utc_days_whatever_the_session_time_zone(
    client: SqlClientBase[Any],
) -> None:
    # p3 starts 2024-03-06 23:30 UTC, which is 2024-03-07 in Tokyo
    client.execute_sql("set TimeZone = 'Asia/Tokyo'")
    try:
        assert query(
            client,
            "select appointment_date from reporting.rpt_daily_appointments"
            " where source = 'pexip_engage' and status = 'completed' order by 1",
        ) == [(date(2024, 3, 6),), (date(2024, 3, 8),)]
        assert query(
            client,
            "select distinct week_start from reporting.rpt_employee_workload"
            " where employee_id = 'e1'",
        ) == [(date(2024, 3, 4),)]
    finally:
        client.execute_sql("reset TimeZone")


def test_rpt_weekly_no_show_rate(client: SqlClientBase[Any]) -> None:
    assert query(
        client,
        "select * from reporting.rpt_weekly_no_show_rate"
        " order by week_start nulls first, source, office_id",
    ) == [
        (None, "pexip_engage", "o1", 1, 0, 0, None),
        (date(2024, 3, 4), "pexip_engage", "o1", 4, 1, 1, 0.5),
        (date(2024, 3, 4), "pexip_engage", "o2", 1, 1, 0, 0.0),
        (date(2024, 3, 4), "valomnia", None, 2, 1, 0, 0.0),
        (date(2024, 3, 11), "valomnia", None, 1, 0, 0, None),
    ]


def test_rpt_employee_workload(client: SqlClientBase[Any]) -> None:
    assert query(
        client,
        "select * from reporting.rpt_employee_workload"
        " order by source, employee_id nulls first, week_start",
    ) == [
        ("pexip_engage", None, None, 1, 0.0, 0, 0),
        # p1 60 + p3 90 minutes booked; p5 cancelled
        ("pexip_engage", "e1", date(2024, 3, 4), 3, 2.5, 0, 1),
        ("pexip_engage", "e2", date(2024, 3, 4), 2, 1.0, 1, 0),
        ("valomnia", "7", date(2024, 3, 4), 1, 0.17, 0, 0),
        ("valomnia", "7", date(2024, 3, 11), 1, 1.0, 0, 0),
        ("valomnia", "8", date(2024, 3, 4), 1, 0.0, 0, 0),
    ]


def test_rpt_lead_time(client: SqlClientBase[Any]) -> None:
    assert query(client, "select * from reporting.rpt_lead_time order by source, meeting_type") == [
        # 24, 61.5, 72 hours; p4 (PHONE) has no start, p6 is deleted
        ("pexip_engage", "OFFICE", 3, 42.75, 61.5, 66.75, 69.9, 52.5),
        ("pexip_engage", "VIDEO", 2, 10.5, 15.0, 19.5, 22.2, 15.0),
        # 24, 24, 72 hours; v3 is deleted
        ("valomnia", None, 3, 24.0, 24.0, 48.0, 62.4, 40.0),
    ]


def test_rpt_answer_distribution(client: SqlClientBase[Any]) -> None:
    assert query(
        client,
        "select * from reporting.rpt_answer_distribution"
        " order by question_id, answer_option_id nulls first",
    ) == [
        # a1 and a3; a6 is on a deleted appointment
        ("q1", "o-1", "A colleague", 2, 3, 0.6667),
        ("q1", "o-2", None, 1, 3, 0.3333),
        ("q1", "o-3", None, 1, 3, 0.3333),
        ("q2", None, "Need a loan", 1, 1, 1.0),
    ]


def test_rollups_leave_deleted_appointments_out(client: SqlClientBase[Any]) -> None:
    live = query(client, "select count(*) from reporting.fct_appointments where not is_deleted")
    for rollup in ("rpt_daily_appointments", "rpt_weekly_no_show_rate", "rpt_employee_workload"):
        assert query(client, f"select sum(appointment_count) from reporting.{rollup}") == live
    assert live == [(9,)]


# an empty warehouse, one source only


def test_models_build_on_an_empty_warehouse(fresh: SqlClientBase[Any]) -> None:
    built = build_models(fresh)
    assert len(built) == len(discover())
    for model in REPORTING:
        assert query(fresh, f"select count(*) from reporting.{model}") == [(0,)], model
    assert typed_columns(fresh, "reporting.fct_appointments") == FCT_COLUMNS


def test_models_build_when_only_valomnia_was_synced(fresh: SqlClientBase[Any]) -> None:
    load_scenario(fresh, datasets=[VALOMNIA])
    build_models(fresh)
    assert query(fresh, "select * from reporting.fct_appointments order by appointment_key") == [
        row for row in FCT_ROWS if row[0] == "valomnia"
    ]
    assert query(fresh, "select count(*) from reporting.fct_appointment_answers") == [(0,)]
    assert query(fresh, "select count(*) from reporting.dim_locations") == [(0,)]
    assert query(fresh, "select distinct source from reporting.fct_appointment_participants") == [
        ("valomnia",)
    ]


def test_models_build_when_only_pexip_engage_was_synced(fresh: SqlClientBase[Any]) -> None:
    load_scenario(fresh, datasets=[PEXIP])
    build_models(fresh)
    assert query(fresh, "select * from reporting.fct_appointments order by appointment_key") == [
        row for row in FCT_ROWS if row[0] == "pexip_engage"
    ]
    assert query(fresh, "select count(*) from reporting.rpt_answer_distribution") == [(4,)]


def test_a_child_table_not_landed_yet_reads_as_no_rows(fresh: SqlClientBase[Any]) -> None:
    create_raw_tables(fresh, [PEXIP])
    fresh.execute_sql('drop table "pexip_engage"."appointments__appointment_participants"')
    insert(fresh, PEXIP, "appointments", [{"id": "p1", "status": "ACCEPTED"}])
    build_models(fresh)
    assert query(
        fresh,
        "select appointment_key, status, customer_id, employee_id from reporting.fct_appointments",
    ) == [("pexip_engage:p1", "scheduled", None, None)]


def test_views_over_a_missing_table_see_it_once_rebuilt(fresh: SqlClientBase[Any]) -> None:
    build_models(fresh)
    load_scenario(fresh, datasets=[VALOMNIA])
    assert query(fresh, "select count(*) from reporting.fct_appointments") == [(0,)]
    build_models(fresh)
    assert query(fresh, "select count(*) from reporting.fct_appointments") == [(4,)]


# descriptions


@pytest.mark.parametrize("name", REPORTING)
def test_reporting_model_is_described(name: str) -> None:
    model = next(m for m in discover() if m.schema == "reporting" and m.name == name)
    assert model.description, f"{model.path} has no comment header describing it"
    assert len(model.description.split()) >= 8


def test_every_reporting_column_carries_its_documentation_as_comment(
    client: SqlClientBase[Any],
) -> None:
    documented = {m.name: dict(m.column_docs) for m in discover() if m.schema == "reporting"}
    comments = column_comments(client, "reporting")
    assert len(comments) == sum(len(columns) for columns in documented.values()) > 100
    for model, column, comment in comments:
        assert comment == documented[model][column], f"reporting.{model}.{column}"
    for model in documented:
        commented = [column for name, column, _ in comments if name == model]
        assert commented == [name for name, _ in typed_columns(client, f"reporting.{model}")]
    assert documented["fct_appointments"]["appointment_key"] == (
        "source:appointment_id, e.g. pexip_engage:123; unique"
    )


def test_views_carry_their_description_as_comment(client: SqlClientBase[Any]) -> None:
    assert view_comment(client, "reporting", "fct_appointments") == (
        "One row per appointment of either source, deleted appointments included (is_deleted)."
    )
