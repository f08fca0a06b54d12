"""Valomnia pages: one `GET /appointments` page split, and a 400 restated with its cause."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipelines.extract.http import (
    ApiClient,
    ApiError,
)
from pipelines.extract.records import PageSplitter
from pipelines.sources.valomnia.settings import (
    FILTER_PARAMS,
    KEY,
    SORT_FIELD,
)

_SPLITTER = PageSplitter("paging", "id", SORT_FIELD)


@dataclass
class Page:
    """One page: the records as the JSON text the API sent (kept verbatim for quarantine),
    with the id and lastUpdated second of each (None when it has no usable one)."""

    offset: int
    records: list[bytes]
    ids: list[int | None]
    stamps: list[int | None]
    total: int


_INTEGER = re.compile(r"-?[0-9]+")


def integer_id(value: Any) -> int | None:
    """The integer id of a record, or None when it has none (it will be quarantined).
    The same rule as the loader's (`BatchReader._id_cast`): a JSON integer, or text of
    ASCII digits with an optional minus, so the keyset and the warehouse agree on ids."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    return None


def fetch_page(
    client: ApiClient, path: str, params: Sequence[tuple[str, str]], offset: int, limit: int
) -> Page:
    """One page of `GET /appointments`; a 400 names the parameter and where it comes from."""
    query = [*params, ("max", str(limit)), ("offset", str(offset))]
    try:
        body = client.get_json(path, query, _SPLITTER.split)
    except ApiError as exc:
        if exc.status != 400:
            raise
        rejected: ApiError | None = explain_rejection(exc, query)
    else:
        rejected = None
    if rejected is not None:
        raise rejected  # outside the except block: this is the error a user should read
    if body is None:
        raise ApiError(
            f"GET {path} at offset {offset}: response has no data list and paging object"
        )
    total = body.envelope.get("total")
    if not isinstance(total, int) or isinstance(total, bool):
        raise ApiError(f"GET {path} at offset {offset}: paging.total is missing")
    ids = [integer_id(rid) for rid in body.ids]
    return Page(offset, body.records, ids, [to_second(c) for c in body.cursors], total)


_PARAM_ORIGINS = {
    **{api: f"config key '{KEY}.{key}'" for key, api in FILTER_PARAMS.items()},
    "max": f"config key '{KEY}.page_size'",
    "lastUpdated_gte": "the incremental cursor in the state of dlt pipeline 'valomnia'",
    "lastUpdated_lte": "the keyset scan of one second",
    "sort": "the source itself",
    "order": "the source itself",
    "offset": "the source itself",
}


def explain_rejection(exc: ApiError, query: Sequence[tuple[str, str]]) -> ApiError:
    """A 400 (`invalid_param`, `invalid_datetime_format`) restated with the parameter at fault."""
    text = str(exc.args[0])
    mentioned = {m.strip() for group in re.findall(r"\[([^\]]*)\]", text) for m in group.split(",")}
    culprits = [
        f"{name}={value} (from {_PARAM_ORIGINS.get(name, 'the source itself')})"
        for name, value in query
        if name in mentioned or value in mentioned
    ]
    api_text = text.split(" failed: ", 1)[-1].rsplit(" (status ", 1)[0]
    blame = f"; parameter {', '.join(culprits)}" if culprits else ""
    return ApiError(
        f"Valomnia rejected the request: {api_text}{blame}",
        status=exc.status,
        correlation_id=exc.correlation_id,
        url=exc.url,
    )


def iso_second(second: int) -> str:
    """Valomnia's only date format: YYYY-MM-DDTHH:MM:SSZ."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


def to_second(value: Any) -> int | None:
    """Epoch second of a date-time (floored; naive means UTC), or None when unparsable."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return math.floor(moment.timestamp())
