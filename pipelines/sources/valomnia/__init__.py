"""Valomnia appointments, incrementally on `lastUpdated`, paged by keyset.

API reference: ../shared/specs/valomnia-list-appointments.txt (GET /api/v1.0/appointments)
and API-NOTES.md. The API filters and sorts by `lastUpdated` (whole seconds), so each run
asks only for rows updated since the cursor (minus the lag) and pages them by restarting at
the greatest lastUpdated read, never by a deep offset (see helpers.KeysetScan). Valomnia
exposes no deletes: `reconcile=True` scans every id once and marks the missing ones.

Resources (see pipelines/extract/resource.py):
    appointments: pages the API; carries the `lastUpdated` cursor; not loaded itself.
    appointment_tables: the appointments, merged on `id` (customer, appointmentCategory
        and employee flattened into `customer__*`, `appointment_category__*`,
        `employee__*`), with the child table appointments__contacts.
    appointment_side_tables: `_quarantine` for malformed records and, after a
        reconcile, `_appointment_scan`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import dlt
import pendulum
from dlt.extract.incremental import Incremental
from dlt.extract.resource import DltResource

from pipelines.config import ConfigError, require_int, require_seconds, require_text, require_url
from pipelines.extract.columns import resource_spec
from pipelines.extract.http import ApiClient, RetryPolicy
from pipelines.extract.resource import (
    JsonRecords,
    RunContext,
    ScanIds,
    appointments_resource,
)
from pipelines.sources.entry import SourceEntry
from pipelines.sources.valomnia.auth import SessionAuth
from pipelines.sources.valomnia.keyset import scan
from pipelines.sources.valomnia.pages import to_second
from pipelines.sources.valomnia.settings import (
    APPOINTMENTS_PATH,
    DEFAULT_API_VERSION,
    DEFAULT_BATCH_RECORDS,
    DEFAULT_LAG_SECONDS,
    DEFAULT_MAX_REPAIR_PASSES,
    DEFAULT_PAGE_SIZE,
    FILTER_PARAMS,
    ID_ARROW_TYPE,
    KEY,
    MAX_PAGE_SIZE,
    RECORD_SCHEMA,
    SOURCE_NAME,
    TABLES,
)

SPEC = resource_spec(SOURCE_NAME, RECORD_SCHEMA, TABLES, ID_ARROW_TYPE)

_API_VERSION = re.compile(r"v\d+(\.\d+)*")


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME, max_table_nesting=0)
def valomnia(
    base_url: str = dlt.config.value,
    username: str = dlt.config.value,
    password: str = dlt.secrets.value,
    api_version: str = DEFAULT_API_VERSION,
    page_size: int = DEFAULT_PAGE_SIZE,
    lag_seconds: float = DEFAULT_LAG_SECONDS,
    customer_reference: str | None = None,
    employee_reference: str | None = None,
    reconcile: bool = False,
    batch_records: int = DEFAULT_BATCH_RECORDS,
    max_repair_passes: int = DEFAULT_MAX_REPAIR_PASSES,
    max_attempts: int = 6,
    backoff_seconds: float = 0.5,
    timeout_seconds: float = 30.0,
) -> list[DltResource]:
    """The Valomnia source. Every setting is checked here, before any request.

    `reconcile` reads the whole collection instead of the rows changed since the cursor,
    and marks appointments it no longer returns with `deleted_at`.
    """
    base_url = require_tenant_url(f"{KEY}.base_url", base_url)
    username = require_text(f"{KEY}.username", username)
    password = require_text(f"{KEY}.password", password)
    api_version = require_text(f"{KEY}.api_version", api_version)
    if not _API_VERSION.fullmatch(api_version):
        raise ConfigError(f"{KEY}.api_version", f"must look like v1.0, got {api_version!r}")
    page_size = require_int(f"{KEY}.page_size", page_size, 1, MAX_PAGE_SIZE)
    lag = require_seconds(f"{KEY}.lag_seconds", lag_seconds)
    batch_records = require_int(f"{KEY}.batch_records", batch_records, 1, 1_000_000)
    passes = require_int(f"{KEY}.max_repair_passes", max_repair_passes, 1, 10)
    attempts = require_int(f"{KEY}.max_attempts", max_attempts, 1, 20)
    backoff = require_seconds(f"{KEY}.backoff_seconds", backoff_seconds, 60)
    timeout = require_seconds(f"{KEY}.timeout_seconds", timeout_seconds, 600)
    params = filter_params(
        customer_reference=customer_reference, employee_reference=employee_reference
    )
    if reconcile and params:
        name = next(k for k, v in FILTER_PARAMS.items() if v == params[0][0])
        raise ConfigError(
            f"{KEY}.{name}",
            "cannot be combined with reconcile: a filtered scan cannot tell a deleted "
            "appointment from one outside the filter",
        )
    path = APPOINTMENTS_PATH.format(api_version=api_version)

    def batches(updated: Incremental[Any], ctx: RunContext) -> Iterator[JsonRecords | ScanIds]:
        # The run's fixed, lag-adjusted start, floored to the API's whole seconds; a full
        # scan (first run or reconcile) sends no lastUpdated filter at all.
        since = None if reconcile else start_second(updated.start_value)
        auth = SessionAuth(base_url, username, password)
        with ApiClient(
            base_url,
            url_key=f"{KEY}.base_url",
            auth=auth,
            retry=RetryPolicy(max_attempts=attempts, initial_wait=backoff),
            timeout=timeout,
            max_connections=2,
        ) as client:
            yield from scan(
                client,
                path,
                params,
                page_size=page_size,
                since=since,
                batch_records=batch_records,
                max_passes=passes,
                complete=reconcile,
            )

    cursor: Incremental[Any] = dlt.sources.incremental(
        "lastUpdated", lag=lag, on_cursor_value_missing="include"
    )
    return appointments_resource(SPEC, batches, cursor, lag)


def require_tenant_url(key: str, value: Any) -> str:
    """The tenant's root URL: the API path is added by the source."""
    url = require_url(key, value)
    if re.search(r"/api(/|$)", urlparse(url).path):
        raise ConfigError(key, f"must be the tenant URL without /api/..., got '{url}'")
    return url


def filter_params(**filters: Any) -> list[tuple[str, str]]:
    """The optional wildcard filters (`Ref-6*`), as the API's parameters."""
    params = []
    for name, value in filters.items():
        if value is None or value == "":
            continue
        params.append((FILTER_PARAMS[name], require_text(f"{KEY}.{name}", value)))
    return params


def start_second(start_value: Any) -> int | None:
    """Epoch second of the incremental's start value (None on a first run)."""
    if start_value is None:
        return None
    if isinstance(start_value, str):
        start_value = pendulum.parse(start_value)
    second = to_second(start_value)
    if second is None:
        raise ValueError(f"cannot use incremental start value {start_value!r} as a date-time")
    return second


def simulator_settings(sim: Any) -> dict[str, str]:
    """Settings that point this source at a running `pipelines.simulator.Simulator`."""
    return {
        "base_url": sim.url,
        "username": sim.valomnia.username,
        "password": sim.valomnia.password,
    }


ENTRY = SourceEntry(
    name=SOURCE_NAME,
    factory=valomnia,
    spec=SPEC,
    simulator_settings=simulator_settings,
    run_options=frozenset({"reconcile"}),
)
