"""Valomnia constants: endpoints, limits, the record schema and the raw tables."""

from __future__ import annotations

import pyarrow as pa

from pipelines.extract.flatten import TIMESTAMP, RecordSchema
from pipelines.extract.resource import column_hints

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

_REF = {"id": "BIGINT", "reference": "VARCHAR", "name": "VARCHAR"}  # `href` is not read

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

NESTED_FIELDS = ("customer", "appointmentCategory", "employee", "contacts")

# Flatten SQL over `batch` (typed nested rows that passed the incremental).
# The parent keeps every scalar, so new top-level fields land as new columns.
TABLE_SQL = {
    "appointments": f"""
        select
            * exclude ({", ".join(f'"{f}"' for f in NESTED_FIELDS)}),
            customer.id as customer__id,
            customer.reference as customer__reference,
            customer.name as customer__name,
            "appointmentCategory".id as appointment_category__id,
            "appointmentCategory".reference as appointment_category__reference,
            "appointmentCategory".name as appointment_category__name,
            employee.id as employee__id,
            employee.reference as employee__reference,
            employee.name as employee__name,
            -- set after a complete scan; here so dlt can load this file without rewriting it
            cast(null as timestamptz) as deleted_at
        from batch
    """,
    "appointments__contacts": """
        with contacts as (
            select
                id as appointment_id,
                "lastUpdated" as appointment_updated_at,
                generate_subscripts(contacts, 1) - 1 as list_index,
                unnest(contacts) as c
            from batch
        )
        select
            appointment_id,
            appointment_updated_at,
            list_index,
            c.id as id,
            c."firstName" as first_name,
            c."lastName" as last_name,
            c.email as email,
            c.phone as phone,
            c.mobile as mobile,
            c."customerReference" as customer_reference
        from contacts
    """,
}


PARENT_COLUMNS = {
    **column_hints(
        id="bigint",
        date_created="timestamp",
        last_updated="timestamp",
        title="text",
        note="text",
        start_date="timestamp",
        end_date="timestamp",
        done="bool",
        customer_id="bigint",
        customer__id="bigint",
        customer__reference="text",
        customer__name="text",
        appointment_category_id="bigint",
        appointment_category__id="bigint",
        appointment_category__reference="text",
        appointment_category__name="text",
        employee_id="bigint",
        employee__id="bigint",
        employee__reference="text",
        employee__name="text",
        deleted_at="timestamp",
    ),
}
PARENT_COLUMNS["last_updated"]["dedup_sort"] = "desc"

CHILD_COLUMNS = {
    "appointments__contacts": column_hints(
        appointment_id="bigint",
        appointment_updated_at="timestamp",
        list_index="bigint",
        id="bigint",
        first_name="text",
        last_name="text",
        email="text",
        phone="text",
        mobile="text",
        customer_reference="text",
    ),
}
