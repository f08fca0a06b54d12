"""Pexip Engage constants: endpoints, limits, the record schema and the raw tables."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from pipelines.extract.flatten import OPEN, TIMESTAMP, OpenObject, RecordSchema
from pipelines.extract.resource import column_hints

SOURCE_NAME = "pexip_engage"
KEY = f"sources.{SOURCE_NAME}"  # the config section of every setting
DEFAULT_BASE_URL = "https://api.pexipengage.com"
DEFAULT_AUTH_URL = "https://auth.pexipengage.com"
TOKEN_PATH = "/realms/{enterprise}/protocol/openid-connect/token"
APPOINTMENTS_PATH = "/enterprises/{enterprise}/appointments"

# The API documents no maximum `limit`: ask for large pages and take what it grants
# (`meta.limit`), halving the size if it refuses one (see scan.first_page).
DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10_000
DEFAULT_MAX_CONCURRENCY = 4  # the documented per-IP limit of concurrent requests
DEFAULT_REQUESTS_PER_MINUTE = 3000  # the documented per-IP budget
DEFAULT_LAG_SECONDS = 60.0
DEFAULT_BATCH_RECORDS = 5000
DEFAULT_MAX_REPAIR_PASSES = 3
TOKEN_REFRESH_MARGIN_SECONDS = 30.0

# Array filters of GET /appointments, sent as `name[]=value`.
ARRAY_FILTERS = frozenset(
    {
        "id",
        "external-id",
        "meeting-type",
        "status",
        "callback-request-id",
        "listing-id",
        "lead-segment-id",
        "subject-id",
        "office-id",
        "customer-id",
        "employee-id",
    }
)
MEETING_TYPES = frozenset({"OFFICE", "ON_LOCATION", "PHONE", "VIDEO"})
STATUSES = frozenset(
    {
        "ACCEPTED",
        "ALTERNATIVE_DATE_REQUESTED",
        "CANCELLED",
        "COMPLETED",
        "INCOMING_REQUEST",
        "NO_SHOW",
        "OUTGOING_INVITE",
    }
)
ENUM_FILTERS = {"meeting-type": MEETING_TYPES, "status": STATUSES}

_ID = {"id": "VARCHAR"}
_LOCALIZED = {"language": "VARCHAR", "value": "VARCHAR"}

RECORD_SCHEMA = RecordSchema(
    fields={
        "id": "VARCHAR",
        "externalId": "VARCHAR",
        "start": TIMESTAMP,
        "end": TIMESTAMP,
        "subject": _ID,
        "office": _ID,
        "appointmentParticipants": [
            {
                "role": "VARCHAR",
                "participant": OPEN,  # the only object the API documents as open
                "type": "VARCHAR",
                "videoUrl": "VARCHAR",
                "videoTestUrl": "VARCHAR",
            }
        ],
        "answers": [
            {
                "value": "VARCHAR",
                "selectedAnswerOptions": [_ID],
                "files": [_ID],
                "id": "VARCHAR",
                "form": _ID,
                "question": _ID,
                "answerType": "VARCHAR",
                "createdAt": TIMESTAMP,
                "updatedAt": TIMESTAMP,
            }
        ],
        "callbackRequest": _ID,
        "listing": _ID,
        "leadSegment": _ID,
        "meetingRoom": _ID,
        "meetingType": "VARCHAR",
        "status": "VARCHAR",
        "hybrid": "BOOLEAN",
        "trailingBufferTime": "BIGINT",
        "internalNotes": "VARCHAR",
        "messageForCustomer": "VARCHAR",
        "createdAt": TIMESTAMP,
        "createdBy": _ID,
        "createdByType": "VARCHAR",
        "createdFrom": "VARCHAR",
        "updatedAt": TIMESTAMP,
        "updatedBy": _ID,
        "updatedByType": "VARCHAR",
        "updatedFrom": "VARCHAR",
        "location": {
            "city": _LOCALIZED,
            "state": _LOCALIZED,
            "street1": _LOCALIZED,
            "street2": _LOCALIZED,
            "postalCode": "VARCHAR",
            "countryCode": "VARCHAR",
            "formattedAddress": "VARCHAR",
            "geolocation": {"latitude": "DOUBLE", "longitude": "DOUBLE"},
        },
    },
    id_field="id",
    id_type="VARCHAR",
    cursor_field="updatedAt",
    required=("updatedAt",),
)
ID_ARROW_TYPE = pa.string()

NESTED_FIELDS = (
    "subject",
    "office",
    "appointmentParticipants",
    "answers",
    "callbackRequest",
    "listing",
    "leadSegment",
    "meetingRoom",
    "createdBy",
    "updatedBy",
    "location",
)

# Flatten SQL over `batch` (typed nested rows that passed the incremental).
# The parent keeps every scalar, so new top-level fields land as new columns.
TABLE_SQL = {
    "appointments": f"""
        select
            * exclude ({", ".join(f'"{f}"' for f in NESTED_FIELDS)}),
            subject.id as subject__id,
            office.id as office__id,
            "callbackRequest".id as callback_request__id,
            listing.id as listing__id,
            "leadSegment".id as lead_segment__id,
            "meetingRoom".id as meeting_room__id,
            "createdBy".id as created_by__id,
            "updatedBy".id as updated_by__id,
            -- set after a complete scan; here so dlt can load this file without rewriting it
            cast(null as timestamptz) as deleted_at
        from batch
    """,
    "appointments__appointment_participants": """
        select
            id as appointment_id,
            "updatedAt" as appointment_updated_at,
            generate_subscripts("appointmentParticipants", 1) - 1 as list_index,
            unnest("appointmentParticipants").role as role,
            unnest("appointmentParticipants").type as type,
            unnest("appointmentParticipants").participant ->> '$.id' as participant__id,
            unnest("appointmentParticipants")."videoUrl" as video_url,
            unnest("appointmentParticipants")."videoTestUrl" as video_test_url,
            unnest("appointmentParticipants").participant as participant
        from batch
    """,
    "appointments__answers": """
        with answers as (
            select
                id as appointment_id,
                "updatedAt" as appointment_updated_at,
                generate_subscripts(answers, 1) - 1 as list_index,
                unnest(answers) as a
            from batch
        )
        select
            appointment_id,
            appointment_updated_at,
            list_index,
            a.id as id,
            a.value as value,
            a.form.id as form__id,
            a.question.id as question__id,
            a."answerType" as answer_type,
            cast(a."createdAt" as timestamptz) as created_at,
            cast(a."updatedAt" as timestamptz) as updated_at
        from answers
    """,
    "appointments__answers__selected_answer_options": """
        with answers as (
            select id as appointment_id, "updatedAt" as appointment_updated_at, unnest(answers) as a
            from batch
        ),
        options as (
            select
                appointment_id,
                appointment_updated_at,
                a.id as answer_id,
                generate_subscripts(a."selectedAnswerOptions", 1) - 1 as list_index,
                unnest(a."selectedAnswerOptions") as o
            from answers
        )
        select appointment_id, appointment_updated_at, answer_id, list_index, o.id as id
        from options
    """,
    "appointments__answers__files": """
        with answers as (
            select id as appointment_id, "updatedAt" as appointment_updated_at, unnest(answers) as a
            from batch
        ),
        files as (
            select
                appointment_id,
                appointment_updated_at,
                a.id as answer_id,
                generate_subscripts(a.files, 1) - 1 as list_index,
                unnest(a.files) as f
            from answers
        )
        select appointment_id, appointment_updated_at, answer_id, list_index, f.id as id
        from files
    """,
    "appointments__location": """
        select
            id as appointment_id,
            "updatedAt" as appointment_updated_at,
            location.city.value as city__value,
            location.city.language as city__language,
            location.state.value as state__value,
            location.state.language as state__language,
            location.street1.value as street1__value,
            location.street1.language as street1__language,
            location.street2.value as street2__value,
            location.street2.language as street2__language,
            location."postalCode" as postal_code,
            location."countryCode" as country_code,
            location."formattedAddress" as formatted_address,
            location.geolocation.latitude as geolocation__latitude,
            location.geolocation.longitude as geolocation__longitude
        from batch
        where location is not null
    """,
}

# "Additional properties are allowed" (the API reference): keys beyond `id` become columns.
OPEN_OBJECTS = {"appointments__appointment_participants": OpenObject("participant", ("id",))}

PARENT_COLUMNS = {
    **column_hints(
        id="text",
        external_id="text",
        start="timestamp",
        end="timestamp",
        subject__id="text",
        office__id="text",
        callback_request__id="text",
        listing__id="text",
        lead_segment__id="text",
        meeting_room__id="text",
        meeting_type="text",
        status="text",
        hybrid="bool",
        trailing_buffer_time="bigint",
        internal_notes="text",
        message_for_customer="text",
        created_at="timestamp",
        created_by__id="text",
        created_by_type="text",
        created_from="text",
        updated_at="timestamp",
        updated_by__id="text",
        updated_by_type="text",
        updated_from="text",
        deleted_at="timestamp",
    ),
}
PARENT_COLUMNS["updated_at"]["dedup_sort"] = "desc"


def _child_key() -> dict[str, dict[str, Any]]:
    return column_hints(
        appointment_id="text", appointment_updated_at="timestamp", list_index="bigint"
    )


CHILD_COLUMNS = {
    "appointments__appointment_participants": {
        **_child_key(),
        **column_hints(
            role="text",
            type="text",
            participant__id="text",
            video_url="text",
            video_test_url="text",
        ),
    },
    "appointments__answers": {
        **_child_key(),
        **column_hints(
            id="text",
            value="text",
            form__id="text",
            question__id="text",
            answer_type="text",
            created_at="timestamp",
            updated_at="timestamp",
        ),
    },
    "appointments__answers__selected_answer_options": {
        **_child_key(),
        **column_hints(answer_id="text", id="text"),
    },
    "appointments__answers__files": {**_child_key(), **column_hints(answer_id="text", id="text")},
    "appointments__location": {
        **column_hints(appointment_id="text", appointment_updated_at="timestamp"),
        **column_hints(
            city__value="text",
            city__language="text",
            state__value="text",
            state__language="text",
            street1__value="text",
            street1__language="text",
            street2__value="text",
            street2__language="text",
            postal_code="text",
            country_code="text",
            formatted_address="text",
            geolocation__latitude="double",
            geolocation__longitude="double",
        ),
    },
}
