"""Pexip Engage appointments, incrementally on `updatedAt`.

API reference: ../shared/specs/pexip-engage-get-appointments.txt (GET /appointments) and
API-NOTES.md. The API can neither filter nor sort by `updatedAt`, so every run pages the
whole collection (or the configured window) in parallel and dlt's incremental keeps only
rows changed since the last run.

Resources (see pipelines/extract/resource.py):
    appointments: pages the API; carries the `updatedAt` cursor; not loaded itself.
    appointment_tables: the appointments, merged on `id`, with child tables
        appointments__appointment_participants, appointments__answers,
        appointments__answers__selected_answer_options, appointments__answers__files and
        appointments__location.
    appointment_side_tables: `_quarantine` for malformed records and, after a complete
        scan, `_appointment_scan` (the ids it returned).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt
import pendulum
from dlt.common.typing import TSecretStrValue
from dlt.extract.incremental import Incremental
from dlt.extract.resource import DltResource

from pipelines.config import (
    ConfigError,
    optional_datetime,
    require_int,
    require_seconds,
    require_text,
    require_url,
)
from pipelines.extract.columns import resource_spec
from pipelines.extract.http import ApiClient, RetryPolicy
from pipelines.extract.resource import (
    JsonRecords,
    RunContext,
    ScanIds,
    appointments_resource,
)
from pipelines.sources.entry import SourceEntry
from pipelines.sources.pexip_engage.auth import ClientCredentialsAuth
from pipelines.sources.pexip_engage.scan import scan
from pipelines.sources.pexip_engage.settings import (
    APPOINTMENTS_PATH,
    ARRAY_FILTERS,
    DEFAULT_AUTH_URL,
    DEFAULT_BASE_URL,
    DEFAULT_BATCH_RECORDS,
    DEFAULT_LAG_SECONDS,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_REPAIR_PASSES,
    DEFAULT_PAGE_SIZE,
    DEFAULT_REQUESTS_PER_MINUTE,
    ENUM_FILTERS,
    ID_ARROW_TYPE,
    KEY,
    MAX_PAGE_SIZE,
    RECORD_SCHEMA,
    SOURCE_NAME,
    TABLES,
    TOKEN_PATH,
)
from pipelines.webhooks import settings as hook_defaults
from pipelines.webhooks.merge import commit_spooled_events, events_first
from pipelines.webhooks.settings import webhook_settings

SPEC = resource_spec(SOURCE_NAME, RECORD_SCHEMA, TABLES, ID_ARROW_TYPE)


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME, max_table_nesting=0)
def pexip_engage(
    enterprise: str = dlt.config.value,
    client_id: str = dlt.config.value,
    client_secret: str = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    token_url: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE,
    lag_seconds: float = DEFAULT_LAG_SECONDS,
    filters: dict[str, Any] | None = None,
    window_from: str | None = None,
    window_to: str | None = None,
    batch_records: int = DEFAULT_BATCH_RECORDS,
    max_repair_passes: int = DEFAULT_MAX_REPAIR_PASSES,
    max_attempts: int = 6,
    backoff_seconds: float = 0.5,
    timeout_seconds: float = 30.0,
    webhooks: bool = False,
    webhook_secret: TSecretStrValue | None = None,
    webhook_signature: str = hook_defaults.DEFAULT_SIGNATURE,
    webhook_signature_header: str = hook_defaults.DEFAULT_SIGNATURE_HEADER,
    webhook_spool_dir: str | None = None,
    full_scan_every: str = hook_defaults.DEFAULT_FULL_SCAN_EVERY,
    webhook_event_id_path: str = hook_defaults.DEFAULT_EVENT_ID_PATH,
    webhook_event_type_path: str = hook_defaults.DEFAULT_EVENT_TYPE_PATH,
    webhook_event_data_path: str = hook_defaults.DEFAULT_EVENT_DATA_PATH,
    full_scan: bool = False,
) -> list[DltResource]:
    """The Pexip Engage source. Every setting is checked here, before any request.

    With `webhooks`, a run merges the events `apptsync webhooks serve` spooled and makes no
    request, unless a full scan is due (`full_scan_every` since the last complete one, or
    `full_scan`, the run option of `apptsync sync --full-scan`): then it pages everything.
    """
    enterprise = require_text(f"{KEY}.enterprise", enterprise)
    client_id = require_text(f"{KEY}.client_id", client_id)
    client_secret = require_text(f"{KEY}.client_secret", client_secret)
    base_url = require_url(f"{KEY}.base_url", base_url)
    token_url = require_url(
        f"{KEY}.token_url", token_url or DEFAULT_AUTH_URL + TOKEN_PATH.format(enterprise=enterprise)
    )
    page_size = require_int(f"{KEY}.page_size", page_size, 1, MAX_PAGE_SIZE)
    max_concurrency = require_int(f"{KEY}.max_concurrency", max_concurrency, 1, 16)
    per_minute = require_int(f"{KEY}.requests_per_minute", requests_per_minute, 1, 1_000_000)
    lag = require_seconds(f"{KEY}.lag_seconds", lag_seconds)
    batch_records = require_int(f"{KEY}.batch_records", batch_records, 1, 1_000_000)
    passes = require_int(f"{KEY}.max_repair_passes", max_repair_passes, 1, 10)
    attempts = require_int(f"{KEY}.max_attempts", max_attempts, 1, 20)
    backoff = require_seconds(f"{KEY}.backoff_seconds", backoff_seconds, 60)
    timeout = require_seconds(f"{KEY}.timeout_seconds", timeout_seconds, 600)
    params = filter_params(filters) + window_params(window_from, window_to)
    whole_collection = not params
    hooks = webhook_settings(
        KEY,
        webhooks=webhooks,
        webhook_secret=webhook_secret,
        webhook_signature=webhook_signature,
        webhook_signature_header=webhook_signature_header,
        webhook_spool_dir=webhook_spool_dir,
        full_scan_every=full_scan_every,
        webhook_event_id_path=webhook_event_id_path,
        webhook_event_type_path=webhook_event_type_path,
        webhook_event_data_path=webhook_event_data_path,
        whole_collection=whole_collection,
    )

    def batches(updated: Incremental[Any], ctx: RunContext) -> Iterator[JsonRecords | ScanIds]:
        auth = ClientCredentialsAuth(token_url, client_id, client_secret)
        with ApiClient(
            base_url,
            url_key=f"{KEY}.base_url",
            auth=auth,
            retry=RetryPolicy(max_attempts=attempts, initial_wait=backoff),
            timeout=timeout,
            max_connections=max_concurrency + 1,
            max_in_flight=max_concurrency,
            requests_per_minute=per_minute,
        ) as client:
            yield from scan(
                client,
                APPOINTMENTS_PATH.format(enterprise=enterprise),
                params,
                page_size=page_size,
                max_concurrency=max_concurrency,
                batch_records=batch_records,
                max_passes=passes,
                whole_collection=whole_collection,
                since=updated.start_value,
            )

    cursor: Incremental[Any] = dlt.sources.incremental(
        "updatedAt", lag=lag, on_cursor_value_missing="include"
    )
    events = events_first(
        hooks,
        batches,
        schema=SPEC.schema,
        full_scan=full_scan,
        complete=whole_collection,
        batch_records=batch_records,
    )
    return appointments_resource(SPEC, events, cursor, lag)


def filter_params(filters: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Pass-through filters in Pexip's `name[]=value` syntax, checked against the spec."""
    params: list[tuple[str, str]] = []
    for name, values in sorted((filters or {}).items()):
        key = f"{KEY}.filters.{name}"
        if name not in ARRAY_FILTERS:
            raise ConfigError(
                key, f"is not a filter of GET /appointments ({sorted(ARRAY_FILTERS)})"
            )
        items = [values] if isinstance(values, str) else values
        if not isinstance(items, list) or not items:
            raise ConfigError(key, "must be a non-empty list of values")
        for value in items:
            text = require_text(key, value)
            allowed = ENUM_FILTERS.get(name)
            if allowed is not None and text not in allowed:
                raise ConfigError(key, f"has {text!r}, not one of {', '.join(sorted(allowed))}")
            params.append((f"{name}[]", text))
    return params


def window_params(window_from: Any, window_to: Any) -> list[tuple[str, str]]:
    """The optional start-time window, as the API's `from` and `to`."""
    params = []
    start = optional_datetime(f"{KEY}.window_from", window_from)
    end = optional_datetime(f"{KEY}.window_to", window_to)
    if start and end and end < start:
        raise ConfigError(f"{KEY}.window_to", "is before window_from")
    if start:
        params.append(("from", pendulum.instance(start).in_timezone("UTC").isoformat()))
    if end:
        params.append(("to", pendulum.instance(end).in_timezone("UTC").isoformat()))
    return params


def simulator_settings(sim: Any) -> dict[str, str]:
    """Settings that point this source at a running `pipelines.simulator.Simulator`."""
    return {
        "base_url": sim.url,
        "token_url": sim.url + TOKEN_PATH.format(enterprise=sim.pexip.enterprise),
        "enterprise": sim.pexip.enterprise,
        "client_id": sim.pexip.client_id,
        "client_secret": sim.pexip.client_secret,
    }


ENTRY = SourceEntry(
    name=SOURCE_NAME,
    factory=pexip_engage,
    spec=SPEC,
    simulator_settings=simulator_settings,
    run_options=frozenset({"full_scan"}),
    after_load=commit_spooled_events,
    receives_webhooks=True,
)
