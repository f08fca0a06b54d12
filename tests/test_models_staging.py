"""Staging models, given the scenario's raw rows: 1:1 with each raw table, renamed, typed; on
DuckDB and on Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dlt.destinations.sql_client import SqlClientBase

from pipelines.models import build_models
from tests.model_fixtures import (
    RAW_TABLES,
    Warehouse,
    load_scenario,
    new_warehouse,
    query,
    ts,
    typed_columns,
)

TZ = "TIMESTAMP WITH TIME ZONE"


@pytest.fixture(scope="module")
def scenario(
    model_destination: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Warehouse]:
    for warehouse in new_warehouse(model_destination, tmp_path_factory.mktemp("staging"), request):
        with warehouse.client() as client:
            load_scenario(client)
            build_models(client)
        yield warehouse


@pytest.fixture
def client(scenario: Warehouse) -> Iterator[SqlClientBase[Any]]:
    with scenario.client() as opened:
        yield opened


STAGING_SOURCES = {
    "stg_pexip_engage__appointments": ("pexip_engage", "appointments"),
    "stg_pexip_engage__appointment_participants": (
        "pexip_engage",
        "appointments__appointment_participants",
    ),
    "stg_pexip_engage__answers": ("pexip_engage", "appointments__answers"),
    "stg_pexip_engage__answer_options": (
        "pexip_engage",
        "appointments__answers__selected_answer_options",
    ),
    "stg_pexip_engage__answer_files": ("pexip_engage", "appointments__answers__files"),
    "stg_pexip_engage__locations": ("pexip_engage", "appointments__location"),
    "stg_valomnia__appointments": ("valomnia", "appointments"),
    "stg_valomnia__contacts": ("valomnia", "appointments__contacts"),
}


def test_there_is_one_staging_model_per_raw_table() -> None:
    assert sorted(STAGING_SOURCES.values()) == sorted(RAW_TABLES)
    staged = sorted(p.stem for p in (Path(__file__).parent.parent / "sql" / "staging").glob("*"))
    assert staged == sorted([*STAGING_SOURCES, "stg_ops__sync_runs"])  # + apptsync's run ledger


@pytest.mark.parametrize("model", sorted(STAGING_SOURCES))
def test_staging_model_has_one_row_per_raw_row(client: SqlClientBase[Any], model: str) -> None:
    dataset, table = STAGING_SOURCES[model]
    raw = query(client, f'select count(*) from "{dataset}"."{table}"')
    staged = query(client, f"select count(*) from staging.{model}")
    assert staged == raw
    assert raw[0][0] > 0


@pytest.mark.parametrize("model", sorted(STAGING_SOURCES))
def test_every_child_row_carries_its_appointment_id(client: SqlClientBase[Any], model: str) -> None:
    assert query(client, f"select count(*) from staging.{model} where appointment_id is null") == [
        (0,)
    ]


def test_pexip_engage_appointments_are_renamed_and_typed(client: SqlClientBase[Any]) -> None:
    assert typed_columns(client, "staging.stg_pexip_engage__appointments") == [
        ("appointment_id", "VARCHAR"),
        ("external_id", "VARCHAR"),
        ("subject_id", "VARCHAR"),
        ("office_id", "VARCHAR"),
        ("callback_request_id", "VARCHAR"),
        ("listing_id", "VARCHAR"),
        ("lead_segment_id", "VARCHAR"),
        ("meeting_room_id", "VARCHAR"),
        ("meeting_type", "VARCHAR"),
        ("status", "VARCHAR"),
        ("is_hybrid", "BOOLEAN"),
        ("trailing_buffer_minutes", "BIGINT"),
        ("internal_notes", "VARCHAR"),
        ("message_for_customer", "VARCHAR"),
        ("created_by_id", "VARCHAR"),
        ("created_by_type", "VARCHAR"),
        ("created_from", "VARCHAR"),
        ("updated_by_id", "VARCHAR"),
        ("updated_by_type", "VARCHAR"),
        ("updated_from", "VARCHAR"),
        ("starts_at", TZ),
        ("ends_at", TZ),
        ("created_at", TZ),
        ("updated_at", TZ),
        ("deleted_at", TZ),
        ("load_id", "VARCHAR"),
    ]
    rows = query(
        client,
        "select * from staging.stg_pexip_engage__appointments"
        " where appointment_id in ('p1', 'p4', 'p6') order by appointment_id",
    )
    load = "1700000000.000001"
    assert rows == [
        (
            "p1", "EXT-1", "s1", "o1", "cb1", "l1", "ls1", "mr1",
            "OFFICE", "ACCEPTED", True, 5, "bring the contract", "see you",
            "e1", "EMPLOYEE", "BACKOFFICE_APP", "c1", "CUSTOMER", "PLUGIN",
            ts("2024-03-04 09:00"), ts("2024-03-04 10:00"),
            ts("2024-03-01 09:00"), ts("2024-03-02 09:00"), None,
            load,
        ),
        (
            "p4", None, "s1", "o1", None, None, None, None,
            "PHONE", "INCOMING_REQUEST", False, 0, None, None,
            None, "CUSTOMER", "PARTNER_BOOKING_APP", None, "CUSTOMER", "PARTNER_BOOKING_APP",
            None, None,
            ts("2024-03-03 12:00"), ts("2024-03-03 12:00"), None,
            load,
        ),
        (
            "p6", None, "s1", "o1", None, None, None, None,
            "ON_LOCATION", "ACCEPTED", False, 0, None, None,
            None, "EMPLOYEE", "BACKOFFICE_APP", None, "EMPLOYEE", "BACKOFFICE_APP",
            ts("2024-03-04 11:00"), ts("2024-03-04 12:00"),
            ts("2024-03-02 11:00"), ts("2024-03-02 11:00"), ts("2024-03-08 00:00"),
            load,
        ),
    ]  # fmt: skip


def test_pexip_engage_participants_keep_list_position(client: SqlClientBase[Any]) -> None:
    assert typed_columns(client, "staging.stg_pexip_engage__appointment_participants") == [
        ("appointment_id", "VARCHAR"),
        ("participant_index", "BIGINT"),
        ("participant_id", "VARCHAR"),
        ("participant_role", "VARCHAR"),
        ("participant_type", "VARCHAR"),
        ("video_url", "VARCHAR"),
        ("video_test_url", "VARCHAR"),
        ("load_id", "VARCHAR"),
    ]
    rows = query(
        client,
        "select * exclude (load_id) from staging.stg_pexip_engage__appointment_participants"
        " where appointment_id in ('p1', 'p4') order by appointment_id, participant_index",
    )
    assert rows == [
        ("p1", 0, "e1", "PRIMARY", "EMPLOYEE", "https://v/e1", "https://t/e1"),
        ("p1", 1, "c1", "PRIMARY", "CUSTOMER", "https://v/c1", None),
        ("p1", 2, "c2", "SECONDARY", "CUSTOMER", None, None),
    ]  # p4's list was emptied: no rows


def test_pexip_engage_answers_options_and_files(client: SqlClientBase[Any]) -> None:
    assert typed_columns(client, "staging.stg_pexip_engage__answers") == [
        ("appointment_id", "VARCHAR"),
        ("answer_index", "BIGINT"),
        ("answer_id", "VARCHAR"),
        ("form_id", "VARCHAR"),
        ("question_id", "VARCHAR"),
        ("answer_type", "VARCHAR"),
        ("answer_value", "VARCHAR"),
        ("created_at", TZ),
        ("updated_at", TZ),
        ("load_id", "VARCHAR"),
    ]
    assert query(
        client,
        "select * exclude (load_id) from staging.stg_pexip_engage__answers"
        " where appointment_id in ('p1', 'p3') order by appointment_id, answer_index",
    ) == [
        ("p1", 0, "a1", "f1", "q1", "SUBJECT_QUESTIONNAIRE", "A colleague",
         ts("2024-03-01 09:05"), ts("2024-03-01 09:06")),
        ("p1", 1, "a2", "f2", "q2", "QUALIFICATION", "Need a loan",
         ts("2024-03-01 09:05"), ts("2024-03-01 09:06")),
        ("p3", 0, "a5", "f1", "q1", "SUBJECT_QUESTIONNAIRE", None,
         ts("2024-03-01 09:05"), ts("2024-03-01 09:06")),
    ]  # fmt: skip
    assert query(
        client,
        "select * exclude (load_id) from staging.stg_pexip_engage__answer_options"
        " where appointment_id = 'p3' order by option_index",
    ) == [("p3", "a5", 0, "o-3"), ("p3", "a5", 1, "o-2")]
    assert typed_columns(client, "staging.stg_pexip_engage__answer_files") == [
        ("appointment_id", "VARCHAR"),
        ("answer_id", "VARCHAR"),
        ("file_index", "BIGINT"),
        ("file_id", "VARCHAR"),
        ("load_id", "VARCHAR"),
    ]
    assert query(
        client,
        "select * exclude (load_id) from staging.stg_pexip_engage__answer_files"
        " order by file_index",
    ) == [("p1", "a1", 0, "file-1"), ("p1", "a1", 1, "file-2")]


def test_pexip_engage_locations(client: SqlClientBase[Any]) -> None:
    assert [name for name, _ in typed_columns(client, "staging.stg_pexip_engage__locations")] == [
        "appointment_id",
        "street1",
        "street1_language",
        "street2",
        "street2_language",
        "postal_code",
        "city",
        "city_language",
        "state",
        "state_language",
        "country_code",
        "formatted_address",
        "latitude",
        "longitude",
        "load_id",
    ]
    assert query(
        client,
        "select * exclude (load_id) from staging.stg_pexip_engage__locations"
        " order by appointment_id",
    ) == [
        ("p1", "Korenmarkt 1", "nl", None, None, "9000", "Gent", "nl", "Oost-Vlaanderen", "nl",
         "BE", "Korenmarkt 1, 9000 Gent", 51.0479466, 3.6912248),
        ("p6", "Rue Neuve 2", "fr", None, None, None, None, None, None, None,
         "BE", "Rue Neuve 2, Bruxelles", 50.85, 4.35),
    ]  # fmt: skip


def test_valomnia_appointments_are_renamed_and_typed(client: SqlClientBase[Any]) -> None:
    assert typed_columns(client, "staging.stg_valomnia__appointments") == [
        ("appointment_id", "BIGINT"),
        ("customer_id", "BIGINT"),
        ("customer_object_id", "BIGINT"),
        ("employee_id", "BIGINT"),
        ("employee_object_id", "BIGINT"),
        ("appointment_category_id", "BIGINT"),
        ("appointment_category_object_id", "BIGINT"),
        ("title", "VARCHAR"),
        ("note", "VARCHAR"),
        ("is_done", "BOOLEAN"),
        ("customer_reference", "VARCHAR"),
        ("customer_name", "VARCHAR"),
        ("employee_reference", "VARCHAR"),
        ("employee_name", "VARCHAR"),
        ("appointment_category_reference", "VARCHAR"),
        ("appointment_category_name", "VARCHAR"),
        ("starts_at", TZ),
        ("ends_at", TZ),
        ("created_at", TZ),
        ("updated_at", TZ),
        ("deleted_at", TZ),
        ("load_id", "VARCHAR"),
    ]
    assert query(
        client,
        "select * exclude (load_id) from staging.stg_valomnia__appointments"
        " where appointment_id in (1, 3) order by appointment_id",
    ) == [
        (1, 19, 19, 7, 7, 3, 3, "Price negotiation", "bring samples", True,
         "BATAM", "Magasin BATAM", "E7", "Eve", "phone_call", "Phone call",
         ts("2024-03-04 13:00"), ts("2024-03-04 13:10"),
         ts("2024-03-01 13:00"), ts("2024-03-02 13:00"), None),
        (3, None, 20, 10, 9, None, None, "Old visit", None, True,
         "R20", "Shop 20", None, None, None, None,
         ts("2024-03-06 08:00"), ts("2024-03-06 09:00"),
         ts("2024-03-01 08:00"), ts("2024-03-01 08:00"), ts("2024-03-09 00:00")),
    ]  # fmt: skip


def test_valomnia_contacts(client: SqlClientBase[Any]) -> None:
    assert typed_columns(client, "staging.stg_valomnia__contacts") == [
        ("appointment_id", "BIGINT"),
        ("contact_index", "BIGINT"),
        ("contact_id", "BIGINT"),
        ("first_name", "VARCHAR"),
        ("last_name", "VARCHAR"),
        ("email", "VARCHAR"),
        ("phone", "VARCHAR"),
        ("mobile", "VARCHAR"),
        ("customer_reference", "VARCHAR"),
        ("load_id", "VARCHAR"),
    ]
    assert query(
        client,
        "select * exclude (load_id) from staging.stg_valomnia__contacts"
        " order by appointment_id, contact_index",
    ) == [
        (1, 0, 100, "Ann", "Smith", "ann@example.com", "+32 9 000 00 00", "+32 470 00 00 00",
         "BATAM"),
        (1, 1, 101, "Bob", None, None, None, None, None),
        (3, 0, 102, None, "Gone", None, None, None, None),
    ]  # fmt: skip


def test_staging_exposes_the_load_id_and_no_other_dlt_column(client: SqlClientBase[Any]) -> None:
    for model in STAGING_SOURCES:
        names = [name for name, _ in typed_columns(client, f"staging.{model}")]
        assert "load_id" in names
        assert not [name for name in names if name.startswith("_dlt")], model
    assert query(client, "select distinct load_id from staging.stg_valomnia__appointments") == [
        ("1700000000.000001",)
    ]


@pytest.mark.parametrize("model", sorted(STAGING_SOURCES))
def test_staging_types_do_not_depend_on_the_raw_table_existing(
    fresh: SqlClientBase[Any], client: SqlClientBase[Any], model: str
) -> None:
    """On an empty warehouse the raw tables are placeholders of varchar nulls; the explicit
    casts keep every staging column's type."""
    build_models(fresh, select=f"staging.{model}")
    assert query(fresh, f"select count(*) from staging.{model}") == [(0,)]
    assert typed_columns(fresh, f"staging.{model}") == typed_columns(client, f"staging.{model}")
