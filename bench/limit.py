"""The floor: DuckDB alone turning saved Pexip pages into the same raw tables.

Why this is the limit: no HTTP, no Python per record, no dlt. One `read_json` over the
pages exactly as the API sent them, then `unnest` into the parent and the five child tables
of docs/raw-tables.md, in a fresh DuckDB file. Anything a sync does beyond this is overhead
to be justified (fetching, validation, merge, state).

The fetch that saves the pages is not timed; it is reported as `pages_fetch_s`. It is the
first read of the collection, so it also fills the simulator's byte cache: every later run
is served from memory, as a remote API would be (its CPU is not on this machine).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import httpx
from sim import PEXIP_APPOINTMENTS, pages_needed, pexip_token

SCHEMA = "pexip_engage"
ID = "STRUCT(id VARCHAR)"
LOCALIZED = "STRUCT(language VARCHAR, value VARCHAR)"
RECORD = f"""STRUCT(
    id VARCHAR, "externalId" VARCHAR, start TIMESTAMPTZ, "end" TIMESTAMPTZ,
    subject {ID}, office {ID},
    "appointmentParticipants" STRUCT(
        role VARCHAR, participant {ID}, type VARCHAR, "videoUrl" VARCHAR,
        "videoTestUrl" VARCHAR)[],
    answers STRUCT(
        value VARCHAR, "selectedAnswerOptions" {ID}[], files {ID}[], id VARCHAR, form {ID},
        question {ID}, "answerType" VARCHAR, "createdAt" TIMESTAMPTZ,
        "updatedAt" TIMESTAMPTZ)[],
    "callbackRequest" {ID}, listing {ID}, "leadSegment" {ID}, "meetingRoom" {ID},
    "meetingType" VARCHAR, status VARCHAR, hybrid BOOLEAN, "trailingBufferTime" BIGINT,
    "internalNotes" VARCHAR, "messageForCustomer" VARCHAR, "createdAt" TIMESTAMPTZ,
    "createdBy" {ID}, "createdByType" VARCHAR, "createdFrom" VARCHAR,
    "updatedAt" TIMESTAMPTZ, "updatedBy" {ID}, "updatedByType" VARCHAR,
    "updatedFrom" VARCHAR,
    location STRUCT(
        city {LOCALIZED}, state {LOCALIZED}, street1 {LOCALIZED}, street2 {LOCALIZED},
        "postalCode" VARCHAR, "countryCode" VARCHAR, "formattedAddress" VARCHAR,
        geolocation STRUCT(latitude DOUBLE, longitude DOUBLE))
)"""

TABLES = {
    "appointments": """
        select
            r.id, r."externalId" as external_id, r.start, r."end",
            r.subject.id as subject__id, r.office.id as office__id,
            r."callbackRequest".id as callback_request__id, r.listing.id as listing__id,
            r."leadSegment".id as lead_segment__id, r."meetingRoom".id as meeting_room__id,
            r."meetingType" as meeting_type, r.status, r.hybrid,
            r."trailingBufferTime" as trailing_buffer_time,
            r."internalNotes" as internal_notes,
            r."messageForCustomer" as message_for_customer,
            r."createdAt" as created_at, r."createdBy".id as created_by__id,
            r."createdByType" as created_by_type, r."createdFrom" as created_from,
            r."updatedAt" as updated_at, r."updatedBy".id as updated_by__id,
            r."updatedByType" as updated_by_type, r."updatedFrom" as updated_from,
            null::timestamptz as deleted_at
        from records
    """,
    "appointments__appointment_participants": """
        select appointment_id, appointment_updated_at, list_index,
            p.role, p.type, p.participant.id as participant__id,
            p."videoUrl" as video_url, p."videoTestUrl" as video_test_url
        from (
            select r.id as appointment_id, r."updatedAt" as appointment_updated_at,
                generate_subscripts(r."appointmentParticipants", 1) - 1 as list_index,
                unnest(r."appointmentParticipants") as p
            from records
        )
    """,
    "appointments__answers": """
        select appointment_id, appointment_updated_at, list_index,
            a.id, a.value, a.form.id as form__id, a.question.id as question__id,
            a."answerType" as answer_type, a."createdAt" as created_at,
            a."updatedAt" as updated_at
        from answers
    """,
    "appointments__answers__selected_answer_options": """
        select appointment_id, appointment_updated_at, answer_id, list_index, o.id
        from (
            select appointment_id, appointment_updated_at, a.id as answer_id,
                generate_subscripts(a."selectedAnswerOptions", 1) - 1 as list_index,
                unnest(a."selectedAnswerOptions") as o
            from answers
        )
    """,
    "appointments__answers__files": """
        select appointment_id, appointment_updated_at, answer_id, list_index, f.id
        from (
            select appointment_id, appointment_updated_at, a.id as answer_id,
                generate_subscripts(a.files, 1) - 1 as list_index,
                unnest(a.files) as f
            from answers
        )
    """,
    "appointments__location": """
        select r.id as appointment_id, r."updatedAt" as appointment_updated_at,
            r.location.city.value as city__value, r.location.city.language as city__language,
            r.location.state.value as state__value,
            r.location.state.language as state__language,
            r.location.street1.value as street1__value,
            r.location.street1.language as street1__language,
            r.location.street2.value as street2__value,
            r.location.street2.language as street2__language,
            r.location."postalCode" as postal_code, r.location."countryCode" as country_code,
            r.location."formattedAddress" as formatted_address,
            r.location.geolocation.latitude as geolocation__latitude,
            r.location.geolocation.longitude as geolocation__longitude
        from records
        where r.location is not null
    """,
}


def save_pages(url: str, n: int, page_size: int, folder: Path, concurrency: int = 4) -> int:
    """Every Pexip page as the API sent it, one file each; returns the records saved."""
    folder.mkdir(parents=True, exist_ok=True)
    token = pexip_token(url)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:

        def fetch(page: int) -> int:
            params = {"offset": page * page_size, "limit": page_size}
            for _ in range(20):
                response = client.get(PEXIP_APPOINTMENTS, params=params)
                if response.status_code != 429:
                    break
                time.sleep(0.05)
            response.raise_for_status()
            (folder / f"page-{page:07d}.json").write_bytes(response.content)
            return len(response.json()["data"])

        with ThreadPoolExecutor(concurrency) as pool:
            return sum(pool.map(fetch, range(pages_needed(n, page_size))))


def run_limit(pages: Path, database: Path) -> dict[str, Any]:
    """Parse the saved pages and write the six tables into a fresh DuckDB file."""
    con = duckdb.connect(str(database))
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"create schema {SCHEMA}")
        glob = str(pages / "*.json").replace("'", "''")
        con.execute(
            f"""create temp table records as
            select unnest(data) as r
            from read_json('{glob}', format = 'auto', records = true,
                           columns = {{'data': '{RECORD.replace("'", "''")}[]'}})"""
        )
        con.execute(
            """create temp table answers as
            select r.id as appointment_id, r."updatedAt" as appointment_updated_at,
                generate_subscripts(r.answers, 1) - 1 as list_index, unnest(r.answers) as a
            from records"""
        )
        rows = {}
        for table, sql in TABLES.items():
            con.execute(f'create table {SCHEMA}."{table}" as {sql}')
            rows[table] = con.execute(f'select count(*) from {SCHEMA}."{table}"').fetchone()[0]
        con.execute("checkpoint")
        return {"rows": rows}
    finally:
        con.close()
