"""Valomnia specifics: the Spring-Security session login and a keyset scan on lastUpdated.

Why keyset and not offsets: the list is sorted by lastUpdated, so an appointment updated
while the sync pages moves to the end and every later row moves one place forward; a
growing offset then skips one row for good. Each page here is a fresh query starting at the
greatest lastUpdated already read, so nothing before it can shift what comes next.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa

from pipelines.extract.http import (
    ApiClient,
    ApiError,
)
from pipelines.extract.metrics import current_metrics
from pipelines.extract.resource import DriftError, JsonRecords, ScanIds
from pipelines.redaction import get_logger
from pipelines.sources.valomnia.pages import Page, fetch_page, iso_second
from pipelines.sources.valomnia.settings import (
    SORT_FIELD,
)

logger = get_logger("apptsync.valomnia")


Fresh = tuple[bytes, int | None]  # a record's JSON text and its id


@dataclass
class ScanStats:
    """What a scan did, for logs and tests."""

    requests: int = 0
    records: int = 0
    single_seconds: int = 0
    repaged_seconds: int = 0

    def describe(self) -> str:
        """`2000 records in 24 requests`, plus what paging had to do, in words."""
        text = f"{_count(self.records, 'record')} in {_count(self.requests, 'request')}"
        if self.single_seconds:
            text += (
                f"; {_count(self.single_seconds, 'second')} held more rows than a page and "
                "was paged by offset"
                if self.single_seconds == 1
                else f"; {self.single_seconds} seconds held more rows than a page and were "
                "paged by offset"
            )
        if self.repaged_seconds:
            text += f", {self.repaged_seconds} of them again because rows moved meanwhile"
        return text


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


class KeysetScan:
    """Every appointment with lastUpdated >= `since`, each version once, in lastUpdated order.

    Each request restarts at the greatest lastUpdated read so far (`lastUpdated_gte`, offset
    0) and skips the ids already read at that second, so only the ids of one second are held.
    A second with more rows than fit in a page is paged alone with offsets
    (`lastUpdated_gte` = `lastUpdated_lte`); if its `paging.total` shrinks between two pages,
    rows left it and others shifted forward, so it is paged again (bounded).
    """

    def __init__(
        self,
        client: ApiClient,
        path: str,
        params: Sequence[tuple[str, str]],
        *,
        page_size: int,
        since: int | None,
        max_passes: int,
    ) -> None:
        self.client = client
        self.path = path
        self.params = [*params, ("sort", SORT_FIELD), ("order", "asc")]
        self.page_size = page_size
        self.since = since
        self.max_passes = max_passes
        self.stats = ScanStats()
        self.metrics = current_metrics()
        self._odd: set[bytes] = set()  # rows without a usable lastUpdated, already read

    def _fetch(self, bounds: list[tuple[str, str]], offset: int) -> Page:
        self.stats.requests += 1
        page = fetch_page(self.client, self.path, [*self.params, *bounds], offset, self.page_size)
        if self.stats.requests == 1:  # the first query counts every row the scan will read
            self.metrics.set_total(page.total, self.page_size, full_scan=self.since is None)
        self.metrics.add_page(len(page.records))
        return page

    def _fresh(self, page: Page, second: int | None, seen: set[int | bytes]) -> list[Fresh]:
        """Records not read before: those at `second` checked against `seen` (which grows)."""
        out = []
        for record, rid, at in zip(page.records, page.ids, page.stamps, strict=True):
            if at is None:
                # Its place in the order is unknown: remember its content (it is quarantined).
                if record in self._odd:
                    continue
                self._odd.add(record)
            elif at == second:
                key = record if rid is None else rid
                if key in seen:
                    continue
                seen.add(key)
            out.append((record, rid))
        self.stats.records += len(out)
        return out

    def pages(self) -> Iterator[list[Fresh]]:
        """The new records of each page, in order."""
        boundary = self.since
        seen: set[int | bytes] = set()  # ids read at second `boundary`
        while True:
            bounds = [] if boundary is None else [("lastUpdated_gte", iso_second(boundary))]
            page = self._fetch(bounds, 0)
            yield self._fresh(page, boundary, seen)
            if not page.records or len(page.records) >= page.total:
                return
            seconds = [s for s in page.stamps if s is not None]
            if not seconds:
                raise ApiError(
                    f"GET {self.path}: a full page of {len(page.records)} appointments without "
                    "a valid lastUpdated; cannot page on lastUpdated"
                )
            low, high = min(seconds), max(seconds)
            if boundary is not None and low < boundary:
                raise ApiError(
                    f"GET {self.path}: lastUpdated_gte={iso_second(boundary)} answered rows "
                    f"updated at {iso_second(low)}; the API ignores the filter"
                )
            at_high = {
                record if rid is None else rid
                for record, rid, at in zip(page.records, page.ids, page.stamps, strict=True)
                if at == high
            }
            if low == high:
                # The whole page is one second: it may hold more rows than a page.
                known = (seen if high == boundary else set()) | at_high
                yield from self._one_second(high, known)
                boundary, seen = high + 1, set()
            else:
                boundary, seen = high, at_high

    def _one_second(self, second: int, seen: set[int | bytes]) -> Iterator[list[Fresh]]:
        """Every row of one second by offset, paged again if rows leave it meanwhile."""
        self.stats.single_seconds += 1
        stamp = iso_second(second)
        bounds = [("lastUpdated_gte", stamp), ("lastUpdated_lte", stamp)]
        for number in range(1, self.max_passes + 1):
            offset, previous, shrunk = 0, None, False
            while True:
                page = self._fetch(bounds, offset)
                if previous is not None and page.total < previous:
                    shrunk = True
                previous = page.total
                if any(s is not None and s != second for s in page.stamps):
                    raise ApiError(
                        f"GET {self.path}: lastUpdated_gte=lastUpdated_lte={stamp} answered rows "
                        "of other seconds; the API ignores the filter"
                    )
                yield self._fresh(page, second, seen)
                offset += len(page.records)
                if shrunk or not page.records or offset >= page.total:
                    break
            if not shrunk:
                return
            self.stats.repaged_seconds += 1
            self.metrics.add_drift_pass()
            logger.warning(
                "rows left lastUpdated=%s while it was paged (pass %d of %d); paging it again",
                stamp,
                number,
                self.max_passes,
            )
        raise DriftError(
            f"rows kept leaving lastUpdated={stamp} while it was paged ({self.max_passes} "
            "passes); nothing was loaded and the cursor did not move"
        )


def scan(
    client: ApiClient,
    path: str,
    params: Sequence[tuple[str, str]],
    *,
    page_size: int,
    since: int | None,
    batch_records: int,
    max_passes: int,
    complete: bool,
) -> Iterator[JsonRecords | ScanIds]:
    """Batches of records from a keyset scan; with `complete`, then every id it saw."""
    keyset = KeysetScan(
        client, path, params, page_size=page_size, since=since, max_passes=max_passes
    )
    ids: set[int] = set()
    batch: list[bytes] = []
    for fresh in keyset.pages():
        batch.extend(record for record, _ in fresh)
        ids.update(rid for _, rid in fresh if rid is not None)
        if len(batch) >= batch_records:
            yield JsonRecords(pa.array(batch, pa.string()))
            batch = []
    if batch:
        yield JsonRecords(pa.array(batch, pa.string()))
    logger.info("scanned %s: %s", path, keyset.stats.describe())
    keyset.metrics.set_ids_seen(len(ids))
    if complete:
        yield ScanIds(sorted(ids))
