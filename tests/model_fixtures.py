"""Given-data helpers for the SQL model tests: the raw tables exactly as the sources declare
them, rows written into them through a dlt SQL client, and rows read back; the same on a
DuckDB file or a Postgres database (`destination` / `Warehouse`)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import pytest
import sqlglot
from dlt.destinations.sql_client import SqlClientBase
from sqlglot import exp

from pipelines.models import open_sql_client
from pipelines.models.resolve import dialect
from pipelines.sources import SOURCES

DESTINATIONS = ("duckdb", "postgres")
"""Where the model tests run: every model is built and queried on both."""


@dataclass(frozen=True)
class Warehouse:
    """An empty warehouse of one destination: a DuckDB file, or a Postgres database (URL)."""

    destination: str
    location: str

    @contextmanager
    def client(self) -> Iterator[SqlClientBase[Any]]:
        if self.destination == "duckdb":
            with open_sql_client(credentials=self.location) as opened:
                yield opened
        else:
            postgres = dlt.destinations.postgres(credentials=self.location)
            with open_sql_client(destination=postgres) as opened:
                yield opened


def new_warehouse(
    destination: str, folder: Path, request: pytest.FixtureRequest
) -> Iterator[Warehouse]:
    """A fresh warehouse for a fixture to yield (a Postgres database is dropped after)."""
    if destination == "duckdb":
        yield Warehouse("duckdb", str(folder / f"w_{secrets.token_hex(4)}.duckdb"))
        return
    server = request.getfixturevalue("postgres_server")
    name = "m_" + secrets.token_hex(6)
    server.admin(f"create database {name} template template0")
    try:
        yield Warehouse("postgres", server.url(name))
    finally:
        server.admin(f"drop database if exists {name} with (force)")


@pytest.fixture(scope="module", params=DESTINATIONS)
def model_destination(request: pytest.FixtureRequest) -> str:
    """The destination a model test module's warehouses are on, each in turn."""
    return str(request.param)


@pytest.fixture
def fresh_warehouse(
    model_destination: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Warehouse]:
    yield from new_warehouse(model_destination, tmp_path, request)


@pytest.fixture
def fresh(fresh_warehouse: Warehouse) -> Iterator[SqlClientBase[Any]]:
    """A client on a new, empty warehouse of the module's destination."""
    with fresh_warehouse.client() as opened:
        yield opened


PEXIP = "pexip_engage"
VALOMNIA = "valomnia"

# (dataset, table) -> [(column, DuckDB type)]: the raw tables the sources declare, in order
# (tests/test_docs.py holds docs/raw-tables.md to the same lists)
RAW_TABLES: dict[tuple[str, str], list[tuple[str, str]]] = {
    (name, table.name): [(column.name, column.type) for column in table.columns]
    for name, entry in SOURCES.items()
    for table in entry.spec.tables
}

LOAD_ID = "1700000000.000001"


def write_models(root: Path, models: dict[str, str]) -> Path:
    """Write `{"schema/name": sql}` under `root/sql/` and return that folder."""
    sql_dir = root / "sql"
    for name, sql in models.items():
        path = sql_dir / f"{name}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql)
    return sql_dir


def ts(text: str) -> datetime:
    """A UTC timestamp from 'YYYY-MM-DD HH:MM[:SS]'."""
    fmt = "%Y-%m-%d %H:%M:%S" if text.count(":") == 2 else "%Y-%m-%d %H:%M"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


def create_raw_tables(
    client: SqlClientBase[Any], datasets: Iterable[str] = (PEXIP, VALOMNIA)
) -> None:
    """Create the raw tables of the given datasets, empty, as the syncs land them (plus
    `_dlt_load_id`)."""
    wanted = set(datasets)
    for (dataset, table), columns in RAW_TABLES.items():
        if dataset not in wanted:
            continue
        client.execute_sql(f'create schema if not exists "{dataset}"')
        column_sql = ", ".join(f'"{name}" {_type(client, kind)}' for name, kind in columns)
        client.execute_sql(
            f'create table "{dataset}"."{table}" ({column_sql}, "_dlt_load_id" varchar)'
        )


def insert(
    client: SqlClientBase[Any], dataset: str, table: str, rows: Iterable[Mapping[str, Any]]
) -> None:
    """Insert rows given as dicts; columns left out are null, `_dlt_load_id` defaults to one
    load id. Unknown columns are an error, so a test cannot drift from the documented tables."""
    known = [name for name, _ in RAW_TABLES[(dataset, table)]] + ["_dlt_load_id"]
    for row in rows:
        unknown = set(row) - set(known)
        assert not unknown, f"{dataset}.{table} has no column(s) {sorted(unknown)}"
        values = {"_dlt_load_id": LOAD_ID, **row}
        names = ", ".join(f'"{name}"' for name in known)
        marks = ", ".join("%s" for _ in known)
        client.execute_sql(
            f'insert into "{dataset}"."{table}" ({names}) values ({marks})',
            *[values.get(name) for name in known],
        )


def query(client: SqlClientBase[Any], sql: str) -> list[tuple[Any, ...]]:
    """All rows of a query written in DuckDB's dialect (as the models are), as tuples; on
    another destination it is transpiled, `* exclude (...)` spelled out as the columns."""
    target = dialect(client)
    if target != "duckdb":
        sql = _spell_out_exclude(client, sqlglot.parse_one(sql, read="duckdb")).sql(dialect=target)
    return [tuple(row) for row in client.execute_sql(sql) or []]


def _spell_out_exclude(client: SqlClientBase[Any], expression: exp.Expression) -> exp.Expression:
    """`select * exclude (a) from t` -> `select b, c from t` (Postgres has no exclude)."""
    if not isinstance(expression, exp.Select):
        return expression
    star = expression.expressions[0] if expression.expressions else None
    if not isinstance(star, exp.Star) or not star.args.get("except_"):
        return expression
    table = expression.args["from_"].this
    excluded = {column.name for column in star.args["except_"]}
    kept = [name for name in columns_of(client, table.sql()) if name not in excluded]
    return expression.select(*kept, append=False)


def columns_of(client: SqlClientBase[Any], relation: str) -> list[str]:
    """The column names of a table or view, in order."""
    with client.execute_query(f"select * from {relation} limit 0") as cursor:
        return [column[0] for column in cursor.description]


def typed_columns(client: SqlClientBase[Any], relation: str) -> list[tuple[str, str]]:
    """(column, DuckDB type) of a table or view, in order; on Postgres its types in DuckDB's
    names, so one expectation holds on both destinations."""
    if dialect(client) != "postgres":
        return [(row[0], row[1]) for row in query(client, f"describe {relation}")]
    schema, name = relation.split(".", 1)
    rows = client.execute_sql(
        "select column_name, data_type, udt_name from information_schema.columns"
        " where table_schema = %s and table_name = %s order by ordinal_position",
        schema,
        name,
    )
    return [(column, _POSTGRES_TYPES.get(kind, _POSTGRES_TYPES.get(udt, kind.upper())))
            for column, kind, udt in rows or []]  # fmt: skip


_POSTGRES_TYPES = {
    "character varying": "VARCHAR",
    "text": "VARCHAR",
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "double precision": "DOUBLE",
    "timestamp with time zone": "TIMESTAMP WITH TIME ZONE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "_varchar": "VARCHAR[]",
    "_text": "VARCHAR[]",
}


def _type(client: SqlClientBase[Any], kind: str) -> str:
    """A DuckDB type name in the client's dialect (`double` is `double precision` there)."""
    return exp.DataType.build(kind, dialect="duckdb").sql(dialect=dialect(client))


def column_comments(client: SqlClientBase[Any], schema: str) -> list[tuple[str, str, str]]:
    """(relation, column, comment) of every commented column in `schema`, in column order."""
    if dialect(client) != "postgres":
        sql = (
            "select table_name, column_name, comment from duckdb_columns()"
            " where schema_name = %s and comment is not null order by table_name, column_index"
        )
    else:
        sql = (
            "select relation.relname, attribute.attname,"
            " col_description(relation.oid, attribute.attnum)"
            " from pg_class as relation"
            " inner join pg_namespace as namespace on relation.relnamespace = namespace.oid"
            " inner join pg_attribute as attribute on attribute.attrelid = relation.oid"
            " where namespace.nspname = %s and attribute.attnum > 0"
            " and col_description(relation.oid, attribute.attnum) is not null"
            " order by relation.relname, attribute.attnum"
        )
    return [(str(t), str(c), str(text)) for t, c, text in client.execute_sql(sql, schema) or []]


def view_comment(client: SqlClientBase[Any], schema: str, name: str) -> str | None:
    if dialect(client) != "postgres":
        rows = client.execute_sql(
            "select comment from duckdb_views() where schema_name = %s and view_name = %s",
            schema,
            name,
        )
    else:
        rows = client.execute_sql(
            "select obj_description(to_regclass(%s), 'pg_class')", f'"{schema}"."{name}"'
        )
    return rows[0][0] if rows else None


# The scenario: a week of appointments of both sources, small enough to write every expected
# row by hand. Pexip Engage: p1 accepted, p2 no-show (no PRIMARY participants), p3 completed
# (a SECONDARY employee listed before the PRIMARY one, two options), p4 an unscheduled
# request whose participant list was emptied, p5 cancelled, p6 deleted, p8 completed.
# Valomnia: v1 done, v2 open with only a flat customerId, v3 deleted, v4 open.

PEXIP_APPOINTMENTS: list[dict[str, Any]] = [
    {
        "id": "p1",
        "external_id": "EXT-1",
        "start": ts("2024-03-04 09:00"),
        "end": ts("2024-03-04 10:00"),
        "subject__id": "s1",
        "office__id": "o1",
        "callback_request__id": "cb1",
        "listing__id": "l1",
        "lead_segment__id": "ls1",
        "meeting_room__id": "mr1",
        "meeting_type": "OFFICE",
        "status": "ACCEPTED",
        "hybrid": True,
        "trailing_buffer_time": 5,
        "internal_notes": "bring the contract",
        "message_for_customer": "see you",
        "created_at": ts("2024-03-01 09:00"),
        "created_by__id": "e1",
        "created_by_type": "EMPLOYEE",
        "created_from": "BACKOFFICE_APP",
        "updated_at": ts("2024-03-02 09:00"),
        "updated_by__id": "c1",
        "updated_by_type": "CUSTOMER",
        "updated_from": "PLUGIN",
    },
    {
        "id": "p2",
        "start": ts("2024-03-05 14:00"),
        "end": ts("2024-03-05 14:30"),
        "subject__id": "s1",
        "office__id": "o1",
        "meeting_type": "VIDEO",
        "status": "NO_SHOW",
        "hybrid": False,
        "trailing_buffer_time": 0,
        "created_at": ts("2024-03-05 08:00"),
        "created_by_type": "CUSTOMER",
        "created_from": "PLUGIN",
        "updated_at": ts("2024-03-05 15:00"),
        "updated_by_type": "OTHER",
        "updated_from": "OTHER",
    },
    {
        "id": "p3",
        "start": ts("2024-03-06 23:30"),
        "end": ts("2024-03-07 01:00"),
        "subject__id": "s2",
        "office__id": "o2",
        "meeting_type": "OFFICE",
        "status": "COMPLETED",
        "hybrid": False,
        "trailing_buffer_time": 0,
        "created_at": ts("2024-03-04 10:00"),
        "created_by_type": "EMPLOYEE",
        "created_from": "BACKOFFICE_APP",
        "updated_at": ts("2024-03-07 02:00"),
        "updated_by_type": "EMPLOYEE",
        "updated_from": "BACKOFFICE_APP",
    },
    {
        "id": "p4",
        "subject__id": "s1",
        "office__id": "o1",
        "meeting_type": "PHONE",
        "status": "INCOMING_REQUEST",
        "hybrid": False,
        "trailing_buffer_time": 0,
        "created_at": ts("2024-03-03 12:00"),
        "created_by_type": "CUSTOMER",
        "created_from": "PARTNER_BOOKING_APP",
        "updated_at": ts("2024-03-03 12:00"),
        "updated_by_type": "CUSTOMER",
        "updated_from": "PARTNER_BOOKING_APP",
    },
    {
        "id": "p5",
        "start": ts("2024-03-07 09:00"),
        "end": ts("2024-03-07 09:45"),
        "subject__id": "s1",
        "office__id": "o1",
        "meeting_type": "OFFICE",
        "status": "CANCELLED",
        "hybrid": False,
        "trailing_buffer_time": 0,
        "created_at": ts("2024-03-06 09:00"),
        "created_by_type": "EMPLOYEE",
        "created_from": "BACKOFFICE_APP",
        "updated_at": ts("2024-03-06 18:00"),
        "updated_by_type": "EMPLOYEE",
        "updated_from": "BACKOFFICE_APP",
    },
    {
        "id": "p6",
        "start": ts("2024-03-04 11:00"),
        "end": ts("2024-03-04 12:00"),
        "subject__id": "s1",
        "office__id": "o1",
        "meeting_type": "ON_LOCATION",
        "status": "ACCEPTED",
        "hybrid": False,
        "trailing_buffer_time": 0,
        "created_at": ts("2024-03-02 11:00"),
        "created_by_type": "EMPLOYEE",
        "created_from": "BACKOFFICE_APP",
        "updated_at": ts("2024-03-02 11:00"),
        "updated_by_type": "EMPLOYEE",
        "updated_from": "BACKOFFICE_APP",
        "deleted_at": ts("2024-03-08 00:00"),
    },
    {
        "id": "p8",
        "start": ts("2024-03-08 10:00"),
        "end": ts("2024-03-08 10:30"),
        "subject__id": "s1",
        "office__id": "o1",
        "meeting_type": "VIDEO",
        "status": "COMPLETED",
        "hybrid": False,
        "trailing_buffer_time": 0,
        "created_at": ts("2024-03-07 10:00"),
        "created_by_type": "EMPLOYEE",
        "created_from": "BACKOFFICE_APP",
        "updated_at": ts("2024-03-08 11:00"),
        "updated_by_type": "EMPLOYEE",
        "updated_from": "BACKOFFICE_APP",
    },
]


def _participant(
    appointment_id: str, index: int, role: str, kind: str, participant_id: str, **extra: Any
) -> dict[str, Any]:
    return {
        "appointment_id": appointment_id,
        "list_index": index,
        "role": role,
        "type": kind,
        "participant__id": participant_id,
        **extra,
    }


PEXIP_PARTICIPANTS: list[dict[str, Any]] = [
    _participant(
        "p1",
        0,
        "PRIMARY",
        "EMPLOYEE",
        "e1",
        video_url="https://v/e1",
        video_test_url="https://t/e1",
    ),
    _participant("p1", 1, "PRIMARY", "CUSTOMER", "c1", video_url="https://v/c1"),
    _participant("p1", 2, "SECONDARY", "CUSTOMER", "c2"),
    _participant("p2", 0, "SECONDARY", "EMPLOYEE", "e2"),
    _participant("p2", 1, "SECONDARY", "CUSTOMER", "c3"),
    _participant("p3", 0, "SECONDARY", "EMPLOYEE", "e2"),
    _participant("p3", 1, "PRIMARY", "EMPLOYEE", "e1"),
    _participant("p3", 2, "PRIMARY", "CUSTOMER", "c1"),
    _participant("p5", 0, "PRIMARY", "EMPLOYEE", "e1"),
    _participant("p6", 0, "PRIMARY", "EMPLOYEE", "e1"),
    _participant("p6", 1, "PRIMARY", "CUSTOMER", "c4"),
    _participant("p8", 0, "PRIMARY", "EMPLOYEE", "e2"),
    _participant("p8", 1, "PRIMARY", "CUSTOMER", "c3"),
]


def _answer(
    appointment_id: str, index: int, answer_id: str, question: str, value: str | None, **extra: Any
) -> dict[str, Any]:
    return {
        "appointment_id": appointment_id,
        "list_index": index,
        "id": answer_id,
        "value": value,
        "form__id": "f1",
        "question__id": question,
        "answer_type": "SUBJECT_QUESTIONNAIRE",
        "created_at": ts("2024-03-01 09:05"),
        "updated_at": ts("2024-03-01 09:06"),
        **extra,
    }


PEXIP_ANSWERS: list[dict[str, Any]] = [
    _answer("p1", 0, "a1", "q1", "A colleague"),
    _answer("p1", 1, "a2", "q2", "Need a loan", answer_type="QUALIFICATION", form__id="f2"),
    _answer("p2", 0, "a3", "q1", "A colleague"),
    _answer("p3", 0, "a5", "q1", None),
    _answer("p6", 0, "a6", "q1", "A colleague"),
]

PEXIP_ANSWER_OPTIONS: list[dict[str, Any]] = [
    {"appointment_id": "p1", "answer_id": "a1", "list_index": 0, "id": "o-1"},
    {"appointment_id": "p2", "answer_id": "a3", "list_index": 0, "id": "o-1"},
    {"appointment_id": "p3", "answer_id": "a5", "list_index": 1, "id": "o-2"},
    {"appointment_id": "p3", "answer_id": "a5", "list_index": 0, "id": "o-3"},
    {"appointment_id": "p6", "answer_id": "a6", "list_index": 0, "id": "o-1"},
]

PEXIP_ANSWER_FILES: list[dict[str, Any]] = [
    {"appointment_id": "p1", "answer_id": "a1", "list_index": 1, "id": "file-2"},
    {"appointment_id": "p1", "answer_id": "a1", "list_index": 0, "id": "file-1"},
]

PEXIP_LOCATIONS: list[dict[str, Any]] = [
    {
        "appointment_id": "p1",
        "city__value": "Gent",
        "city__language": "nl",
        "state__value": "Oost-Vlaanderen",
        "state__language": "nl",
        "street1__value": "Korenmarkt 1",
        "street1__language": "nl",
        "street2__value": None,
        "street2__language": None,
        "postal_code": "9000",
        "country_code": "BE",
        "formatted_address": "Korenmarkt 1, 9000 Gent",
        "geolocation__latitude": 51.0479466,
        "geolocation__longitude": 3.6912248,
    },
    {
        "appointment_id": "p6",
        "city__value": None,
        "city__language": None,
        "state__value": None,
        "state__language": None,
        "street1__value": "Rue Neuve 2",
        "street1__language": "fr",
        "postal_code": None,
        "country_code": "BE",
        "formatted_address": "Rue Neuve 2, Bruxelles",
        "geolocation__latitude": 50.85,
        "geolocation__longitude": 4.35,
    },
]

VALOMNIA_APPOINTMENTS: list[dict[str, Any]] = [
    {
        "id": 1,
        "date_created": ts("2024-03-01 13:00"),
        "last_updated": ts("2024-03-02 13:00"),
        "title": "Price negotiation",
        "note": "bring samples",
        "start_date": ts("2024-03-04 13:00"),
        "end_date": ts("2024-03-04 13:10"),
        "done": True,
        "customer_id": 19,
        "customer__id": 19,
        "customer__reference": "BATAM",
        "customer__name": "Magasin BATAM",
        "appointment_category_id": 3,
        "appointment_category__id": 3,
        "appointment_category__reference": "phone_call",
        "appointment_category__name": "Phone call",
        "employee_id": 7,
        "employee__id": 7,
        "employee__reference": "E7",
        "employee__name": "Eve",
    },
    {
        "id": 2,
        "date_created": ts("2024-03-04 05:00"),
        "last_updated": ts("2024-03-12 08:00"),
        "title": "Control merchandise",
        "start_date": ts("2024-03-05 05:00"),
        "end_date": ts("2024-03-05 05:00"),
        "done": False,
        "customer_id": 19,
        "appointment_category_id": 5,
        "appointment_category__id": 5,
        "appointment_category__reference": "other",
        "appointment_category__name": "Autre",
        "employee_id": 8,
    },
    {
        "id": 3,
        "date_created": ts("2024-03-01 08:00"),
        "last_updated": ts("2024-03-01 08:00"),
        "title": "Old visit",
        "start_date": ts("2024-03-06 08:00"),
        "end_date": ts("2024-03-06 09:00"),
        "done": True,
        "customer__id": 20,
        "customer__reference": "R20",
        "customer__name": "Shop 20",
        "employee_id": 10,
        "employee__id": 9,
        "deleted_at": ts("2024-03-09 00:00"),
    },
    {
        "id": 4,
        "date_created": ts("2024-03-10 08:00"),
        "last_updated": ts("2024-03-10 08:00"),
        "title": "Follow-up",
        "start_date": ts("2024-03-11 08:00"),
        "end_date": ts("2024-03-11 09:00"),
        "done": False,
        "customer_id": 19,
        "customer__id": 19,
        "customer__reference": "BATAM",
        "customer__name": "BATAM Store",
        "appointment_category__name": "Visit",
        "employee_id": 7,
        "employee__id": 7,
    },
]

VALOMNIA_CONTACTS: list[dict[str, Any]] = [
    {
        "appointment_id": 1,
        "list_index": 0,
        "id": 100,
        "first_name": "Ann",
        "last_name": "Smith",
        "email": "ann@example.com",
        "phone": "+32 9 000 00 00",
        "mobile": "+32 470 00 00 00",
        "customer_reference": "BATAM",
    },
    {"appointment_id": 1, "list_index": 1, "id": 101, "first_name": "Bob"},
    {"appointment_id": 3, "list_index": 0, "id": 102, "last_name": "Gone"},
]

SCENARIO: dict[tuple[str, str], list[dict[str, Any]]] = {
    (PEXIP, "appointments"): PEXIP_APPOINTMENTS,
    (PEXIP, "appointments__appointment_participants"): PEXIP_PARTICIPANTS,
    (PEXIP, "appointments__answers"): PEXIP_ANSWERS,
    (PEXIP, "appointments__answers__selected_answer_options"): PEXIP_ANSWER_OPTIONS,
    (PEXIP, "appointments__answers__files"): PEXIP_ANSWER_FILES,
    (PEXIP, "appointments__location"): PEXIP_LOCATIONS,
    (VALOMNIA, "appointments"): VALOMNIA_APPOINTMENTS,
    (VALOMNIA, "appointments__contacts"): VALOMNIA_CONTACTS,
}


def load_scenario(client: SqlClientBase[Any], datasets: Iterable[str] = (PEXIP, VALOMNIA)) -> None:
    """Create the raw tables of `datasets` and fill them with the scenario's rows."""
    wanted = tuple(datasets)
    create_raw_tables(client, wanted)
    for (dataset, table), rows in SCENARIO.items():
        if dataset in wanted:
            insert(client, dataset, table, rows)


def model_views(client: SqlClientBase[Any]) -> list[tuple[str, str]]:
    """(schema, view) of every view outside the system schemas, sorted."""
    return query(
        client,
        "select table_schema, table_name from information_schema.tables"
        " where table_type = 'VIEW' and table_schema not in ('information_schema', 'pg_catalog')"
        " order by 1, 2",
    )


def view_definition(client: SqlClientBase[Any], schema: str, name: str) -> str:
    """The SQL a view was created with, as the database keeps it."""
    if dialect(client) != "postgres":
        sql = "select sql from duckdb_views() where schema_name = %s and view_name = %s"
    else:
        sql = "select definition from pg_views where schemaname = %s and viewname = %s"
    rows = client.execute_sql(sql, schema, name) or []
    return str(rows[0][0]) if rows else ""
