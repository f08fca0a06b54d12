"""Pexip Engage constants: endpoints, limits, the record schema and the raw tables."""

from __future__ import annotations

import pyarrow as pa

from pipelines.extract.columns import (
    Column,
    Table,
    appointment_key,
    deleted_placeholder,
    position,
)
from pipelines.extract.flatten import OPEN, TIMESTAMP, RecordSchema, Struct

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

_ID: Struct = {"id": "VARCHAR"}
_LOCALIZED: Struct = {"language": "VARCHAR", "value": "VARCHAR"}

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

_APPOINTMENT = appointment_key(RECORD_SCHEMA)


def _text(name: str, path: str) -> Column:
    return Column(name, "varchar", path)


def _localized(name: str) -> tuple[Column, Column]:
    return (
        _text(f"{name}__value", f"location.{name}.value"),
        _text(f"{name}__language", f"location.{name}.language"),
    )


# The raw tables, parent first: (column, type, API path). The flatten SQL, dlt's hints,
# docs/raw-tables.md and the tests' fixtures all follow these lists.
TABLES = (
    Table(
        "appointments",
        new_fields=True,
        columns=(
            _text("id", "id"),
            _text("external_id", "externalId"),
            Column("start", "timestamptz", "start"),
            Column("end", "timestamptz", "end"),
            _text("meeting_type", "meetingType"),
            _text("status", "status"),
            Column("hybrid", "boolean", "hybrid"),
            Column("trailing_buffer_time", "bigint", "trailingBufferTime"),
            _text("internal_notes", "internalNotes"),
            _text("message_for_customer", "messageForCustomer"),
            Column("created_at", "timestamptz", "createdAt"),
            _text("created_by_type", "createdByType"),
            _text("created_from", "createdFrom"),
            Column("updated_at", "timestamptz", "updatedAt"),
            _text("updated_by_type", "updatedByType"),
            _text("updated_from", "updatedFrom"),
            # then the objects' fields, then what the sync sets (`* exclude` keeps this order)
            _text("subject__id", "subject.id"),
            _text("office__id", "office.id"),
            _text("callback_request__id", "callbackRequest.id"),
            _text("listing__id", "listing.id"),
            _text("lead_segment__id", "leadSegment.id"),
            _text("meeting_room__id", "meetingRoom.id"),
            _text("created_by__id", "createdBy.id"),
            _text("updated_by__id", "updatedBy.id"),
            deleted_placeholder(),
        ),
    ),
    Table(
        "appointments__appointment_participants",
        rows="appointmentParticipants[]",
        # "Additional properties are allowed" (the API reference): keys beyond `id` land.
        open_object="appointmentParticipants[].participant",
        columns=(
            *_APPOINTMENT,
            position(),
            _text("role", "appointmentParticipants[].role"),
            _text("type", "appointmentParticipants[].type"),
            _text("participant__id", "appointmentParticipants[].participant.id"),
            _text("video_url", "appointmentParticipants[].videoUrl"),
            _text("video_test_url", "appointmentParticipants[].videoTestUrl"),
        ),
    ),
    Table(
        "appointments__answers",
        rows="answers[]",
        columns=(
            *_APPOINTMENT,
            position(),
            _text("id", "answers[].id"),
            _text("value", "answers[].value"),
            _text("form__id", "answers[].form.id"),
            _text("question__id", "answers[].question.id"),
            _text("answer_type", "answers[].answerType"),
            Column("created_at", "timestamptz", "answers[].createdAt"),
            Column("updated_at", "timestamptz", "answers[].updatedAt"),
        ),
    ),
    Table(
        "appointments__answers__selected_answer_options",
        rows="answers[].selectedAnswerOptions[]",
        columns=(
            *_APPOINTMENT,
            _text("answer_id", "answers[].id"),
            position(),
            _text("id", "answers[].selectedAnswerOptions[].id"),
        ),
    ),
    Table(
        "appointments__answers__files",
        rows="answers[].files[]",
        columns=(
            *_APPOINTMENT,
            _text("answer_id", "answers[].id"),
            position(),
            _text("id", "answers[].files[].id"),
        ),
    ),
    Table(
        "appointments__location",
        rows="location",  # one row per appointment whose location is set
        columns=(
            *_APPOINTMENT,
            *_localized("city"),
            *_localized("state"),
            *_localized("street1"),
            *_localized("street2"),
            _text("postal_code", "location.postalCode"),
            _text("country_code", "location.countryCode"),
            _text("formatted_address", "location.formattedAddress"),
            Column("geolocation__latitude", "double", "location.geolocation.latitude"),
            Column("geolocation__longitude", "double", "location.geolocation.longitude"),
        ),
    ),
)
