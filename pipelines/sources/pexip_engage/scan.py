"""Pexip Engage paging: every page in parallel, checked for drift, handed on in order."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from itertools import compress
from typing import Any

import orjson
import pyarrow as pa

from pipelines.extract.http import ApiClient, ApiError
from pipelines.extract.metrics import current_metrics
from pipelines.extract.records import PageSplitter
from pipelines.extract.resource import DriftError, JsonRecords, ScanIds
from pipelines.redaction import get_logger

logger = get_logger("apptsync.pexip_engage")

_SPLITTER = PageSplitter("meta", "id", "updatedAt")
# The API's own default page size: asking for less than this is never worth a try.
MIN_PAGE_SIZE = 25
_NAMES_LIMIT = re.compile(r"\blimit\b", re.IGNORECASE)


@dataclass
class Page:
    """One page: meta, the id and `updatedAt` of each record as text, and the records as
    the JSON text the API sent (kept verbatim for quarantine)."""

    offset: int
    total: int
    limit: int
    ids: list[str | None]
    versions: list[str | None]
    records: list[bytes]


def _as_text(value: Any) -> str | None:
    """A field of any JSON kind as text, the way DuckDB's `->>` reads it."""
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def fetch_page(
    client: ApiClient,
    path: str,
    params: Sequence[tuple[str, str]],
    offset: int,
    limit: int,
) -> Page:
    body = client.get_json(path, [*params, ("offset", offset), ("limit", limit)], _SPLITTER.split)
    meta = body.envelope if body is not None else {}
    total, served = meta.get("totalCount"), meta.get("limit")
    if body is None or total is None or not str(total).isdigit():
        raise ApiError(f"GET {path} at offset {offset}: response has no data list and meta")
    return Page(
        offset,
        int(total),
        int(served) if served is not None and str(served).isdigit() else limit,
        [_as_text(rid) for rid in body.ids],
        [_as_text(version) for version in body.cursors],
        body.records,
    )


def first_page(
    client: ApiClient, path: str, params: Sequence[tuple[str, str]], page_size: int
) -> Page:
    """The first page, at the largest size the API takes: `page_size`, halved (down to
    MIN_PAGE_SIZE) while the API refuses the size itself. The maximum is undocumented; a
    size the API caps instead comes back in `meta.limit` and is used from then on."""
    size = page_size
    while True:
        try:
            return fetch_page(client, path, params, 0, size)
        except ApiError as error:
            smaller = max(size // 2, MIN_PAGE_SIZE)
            if smaller >= size or not refuses_page_size(error):
                raise
            logger.warning(
                "%s refused limit=%d (%s); asking for %d", path, size, error.detail, smaller
            )
            size = smaller


def refuses_page_size(error: ApiError) -> bool:
    """A 413, or a 400/422 whose own text names `limit`: the size, not the request, is at
    fault (any other client error is final, as for every request)."""
    if error.status == 413:
        return True
    return error.status in (400, 422) and bool(_NAMES_LIMIT.search(error.detail or ""))


def pages(
    client: ApiClient,
    path: str,
    params: Sequence[tuple[str, str]],
    page_size: int,
    max_concurrency: int,
    read_ahead: int = 0,
) -> Iterator[Page]:
    """Every page in offset order; after the first, up to `max_concurrency` requests in flight.

    The first page tells the total (and the page size the server really uses); the rest
    are fetched by a small thread pool. At most `read_ahead` pages (at least two per
    worker) wait to be consumed, so fetching goes on while a batch is being flattened and
    memory does not grow with the collection.
    """
    first = first_page(client, path, params, page_size)
    yield first
    step = first.limit if first.limit > 0 else page_size
    offsets = iter(range(step, first.total, step))
    # Twice the threads of the request limit (the client enforces that limit): while one
    # thread parses its page, another already waits on the network.
    with ThreadPoolExecutor(max_concurrency * 2, thread_name_prefix="pexip-page") as pool:
        window: deque[Future[Page]] = deque()

        def submit_next() -> None:
            offset = next(offsets, None)
            if offset is not None:
                window.append(pool.submit(fetch_page, client, path, params, offset, step))

        for _ in range(max(max_concurrency * 2, read_ahead)):
            submit_next()
        try:
            while window:
                page = window.popleft().result()
                submit_next()
                yield page
        finally:
            for future in window:
                future.cancel()


def _one_pass(
    pass_pages: Iterator[Page],
    report: PassReport,
    seen: dict[str, tuple[Any, int]],
    since: datetime | None,
    batch_records: int,
) -> Iterator[JsonRecords]:
    """The records of one pass worth handing on, in batches; `report` notes what it saw."""
    number = report.number
    parts: list[bytes] = []
    metrics = current_metrics()
    for page in pass_pages:
        report.page_size = report.page_size or page.limit
        report.totals.add(page.total)
        if page.offset == 0:
            metrics.set_total(page.total, page.limit, full_scan=True)
        metrics.add_page(len(page.records))
        keep = []
        for rid, version in zip(page.ids, page.versions, strict=True):
            if rid is None or rid == "":
                report.anonymous += 1
                keep.append(number == 1)  # quarantined once, not once per pass
                continue
            previous = seen.get(rid)
            if previous is not None and previous[1] == number:
                report.duplicates += 1
                keep.append(False)
                continue
            report.ids += 1
            seen[rid] = (version, number)
            keep.append((previous is None or previous[0] != version) and not _older(version, since))
        parts.extend(page.records if all(keep) else compress(page.records, keep))
        if len(parts) >= batch_records:
            yield JsonRecords(pa.array(parts, pa.string()))
            parts = []
    if parts:
        yield JsonRecords(pa.array(parts, pa.string()))


def _older(version: Any, since: datetime | None) -> bool:
    """True only for a parsable `updatedAt` before `since`; anything odd goes on to be
    checked (and quarantined) downstream."""
    if since is None or not isinstance(version, str):
        return False
    try:
        return datetime.fromisoformat(version) < since
    except (ValueError, TypeError):
        return False


@dataclass
class PassReport:
    """What one pass over the collection saw, to tell a clean scan from a shifted one."""

    number: int
    page_size: int = 0  # what the server granted on this pass's first page
    totals: set[int] = field(default_factory=set)
    ids: int = 0
    anonymous: int = 0
    duplicates: int = 0

    def problems(self) -> list[str]:
        found = []
        if len(self.totals) > 1:
            found.append(f"totalCount changed while paging ({sorted(self.totals)})")
        if self.duplicates:
            found.append(f"{self.duplicates} id(s) seen twice")
        expected = max(self.totals) if self.totals else 0
        if self.ids + self.anonymous != expected and len(self.totals) == 1:
            found.append(f"{self.ids + self.anonymous} records for a totalCount of {expected}")
        return found


def scan(
    client: ApiClient,
    path: str,
    params: Sequence[tuple[str, str]],
    *,
    page_size: int,
    max_concurrency: int,
    batch_records: int,
    max_passes: int,
    whole_collection: bool,
    since: datetime | None = None,
) -> Iterator[JsonRecords | ScanIds]:
    """Batches of records from a drift-checked scan; at the end, the ids if it was complete.

    Offsets shift when appointments are created or deleted while paging. A pass is clean when
    every page reported the same totalCount, no id came twice and the ids add up to the
    total. Otherwise the collection is read again (only new versions are emitted again),
    up to `max_passes`; then the run fails so its cursor does not advance.

    Records whose `updatedAt` is older than `since` (the incremental's start value) are
    counted for the checks but not handed on: dlt's incremental would drop them anyway.
    """
    seen: dict[str, tuple[Any, int]] = {}
    for number in range(1, max_passes + 1):
        report = PassReport(number)
        yield from _one_pass(
            pages(
                client,
                path,
                params,
                page_size,
                max_concurrency,
                read_ahead=2 * batch_records // max(page_size, 1),
            ),
            report,
            seen,
            since,
            batch_records,
        )
        page_size = report.page_size or page_size  # the next pass asks for what was granted
        problems = report.problems()
        current_metrics().end_pass(report.ids, drifted=bool(problems))
        logger.info(
            "scanned %s: %d records, pass %d%s",
            path,
            report.ids + report.anonymous,
            number,
            f" drifted ({'; '.join(problems)})" if problems else " clean",
        )
        if not problems:
            if whole_collection:
                yield ScanIds(k for k, (_, n) in seen.items() if n == number)
            return
        logger.warning(
            "pass %d of %d over %s drifted: %s; reading it again",
            number,
            max_passes,
            path,
            "; ".join(problems),
        )
    raise DriftError(
        f"the appointments collection kept changing while it was paged ({max_passes} passes, "
        f"last: {'; '.join(problems)}); nothing was loaded and the cursor did not move"
    )
