"""Valomnia constants: endpoints, limits, the record schema and the raw tables."""

from __future__ import annotations

import pyarrow as pa

from pipelines.extract.columns import Column, Table, appointment_key, deleted_placeholder, position
from pipelines.extract.flatten import TIMESTAMP, RecordSchema, Struct

SOURCE_NAME = "valomnia"
KEY = f"sources.{SOURCE_NAME}"  # the config section of every setting
DEFAULT_API_VERSION = "v1.0"
APPOINTMENTS_PATH = "/api/{api_version}/appointments"
LOGIN_PATH = "/j_spring_security_check"
LOGIN_SUCCESS_PATH = "/login/ajaxSuccess"
SESSION_COOKIE = "JSESSIONID"

DEFAULT_PAGE_SIZE = 100  # the API's own default for `max`
MAX_PAGE_SIZE = 1000  # the real maximum is unknown; the server may serve fewer (paging.max)
DEFAULT_LAG_SECONDS = 60.0
DEFAULT_BATCH_RECORDS = 5000
# How often one second is paged again when rows left it while it was paged by offset.
DEFAULT_MAX_REPAIR_PASSES = 3

# The keyset: the API sorts by lastUpdated (whole seconds), ties by id ascending.
SORT_FIELD = "lastUpdated"
SORT_PARAMS = (("sort", SORT_FIELD), ("order", "asc"))
# Wildcard filters of GET /appointments, by the config key that sets them.
FILTER_PARAMS = {
    "customer_reference": "customerReference",
    "employee_reference": "employeeReference",
}

_REF: Struct = {"id": "BIGINT", "reference": "VARCHAR", "name": "VARCHAR"}  # `href` is not read

RECORD_SCHEMA = RecordSchema(
    fields={
        "id": "BIGINT",
        "dateCreated": TIMESTAMP,
        "lastUpdated": TIMESTAMP,
        "title": "VARCHAR",
        "note": "VARCHAR",
        "startDate": TIMESTAMP,
        "endDate": TIMESTAMP,
        "done": "BOOLEAN",
        "customerId": "BIGINT",
        "customer": _REF,
        "appointmentCategoryId": "BIGINT",
        "appointmentCategory": _REF,
        "employeeId": "BIGINT",
        "employee": _REF,
        "contacts": [
            {
                "id": "BIGINT",
                "firstName": "VARCHAR",
                "lastName": "VARCHAR",
                "email": "VARCHAR",
                "phone": "VARCHAR",
                "mobile": "VARCHAR",
                "customerReference": "VARCHAR",
            }
        ],
    },
    id_field="id",
    id_type="BIGINT",
    cursor_field="lastUpdated",
    required=("lastUpdated",),
)
ID_ARROW_TYPE = pa.int64()


def _reference(name: str, path: str) -> tuple[Column, Column, Column]:
    return (
        Column(f"{name}__id", "bigint", f"{path}.id"),
        Column(f"{name}__reference", "varchar", f"{path}.reference"),
        Column(f"{name}__name", "varchar", f"{path}.name"),
    )


# The raw tables, parent first: (column, type, API path). The flatten SQL, dlt's hints,
# docs/raw-tables.md and the tests' fixtures all follow these lists.
TABLES = (
    Table(
        "appointments",
        new_fields=True,
        columns=(
            Column("id", "bigint", "id"),
            Column("date_created", "timestamptz", "dateCreated"),
            Column("last_updated", "timestamptz", "lastUpdated"),
            Column("title", "varchar", "title"),
            Column("note", "varchar", "note"),
            Column("start_date", "timestamptz", "startDate"),
            Column("end_date", "timestamptz", "endDate"),
            Column("done", "boolean", "done"),
            Column("customer_id", "bigint", "customerId"),
            Column("appointment_category_id", "bigint", "appointmentCategoryId"),
            Column("employee_id", "bigint", "employeeId"),
            # then the objects' fields, then what the sync sets (`* exclude` keeps this order)
            *_reference("customer", "customer"),
            *_reference("appointment_category", "appointmentCategory"),
            *_reference("employee", "employee"),
            deleted_placeholder(),
        ),
    ),
    Table(
        "appointments__contacts",
        rows="contacts[]",
        columns=(
            *appointment_key(RECORD_SCHEMA),
            position(),
            Column("id", "bigint", "contacts[].id"),
            Column("first_name", "varchar", "contacts[].firstName"),
            Column("last_name", "varchar", "contacts[].lastName"),
            Column("email", "varchar", "contacts[].email"),
            Column("phone", "varchar", "contacts[].phone"),
            Column("mobile", "varchar", "contacts[].mobile"),
            Column("customer_reference", "varchar", "contacts[].customerReference"),
        ),
    ),
)
