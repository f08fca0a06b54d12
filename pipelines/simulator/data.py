"""Shared pieces of the seeded generators: time formats, seeds, update times, draws.

Why lazy and index-addressed: a simulator with 1,000,000 appointments per source must not
hold a million dicts. The stores keep compact arrays (order, update times) and ask the
generators (`pexip_data`, `valomnia_data`) for a record only when it is served or
filtered; the same (seed, index) always yields the same record, so runs are reproducible.
"""

from __future__ import annotations

import calendar
import re
import time
from array import array
from bisect import bisect
from collections.abc import Sequence
from datetime import UTC, datetime
from random import Random
from typing import Any, TypeVar

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

# The simulated "now" when a simulator starts; fixed so base data never depends on wall time.
INITIAL_CLOCK_MS = calendar.timegm((2026, 3, 1, 10, 0, 0)) * SECOND_MS
# Base update times spread over this window, ending a minute before the initial clock.
BASE_SPAN_MS = 730 * DAY_MS

Record = dict[str, Any]
T = TypeVar("T")


_DAY_PREFIXES: dict[int, str] = {}


def iso_ms(ms: int) -> str:
    """Pexip's timestamp style: UTC with milliseconds, e.g. 2026-03-01T10:00:00.000Z.

    Hot path (several calls per record), so the date part is cached per day.
    """
    day, rest = divmod(ms, DAY_MS)
    prefix = _DAY_PREFIXES.get(day)
    if prefix is None:
        t = time.gmtime(day * 86_400)
        prefix = f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}T"
        if len(_DAY_PREFIXES) < 100_000:
            _DAY_PREFIXES[day] = prefix
    seconds, millis = divmod(rest, SECOND_MS)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{prefix}{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"


def iso_s(seconds: int) -> str:
    """Valomnia's timestamp style: UTC whole seconds, e.g. 2026-03-01T10:00:00Z."""
    day, rest = divmod(seconds, 86_400)
    prefix = _DAY_PREFIXES.get(day)
    if prefix is None:
        prefix = iso_ms(day * DAY_MS)[:11]
    minutes, second = divmod(rest, 60)
    hour, minute = divmod(minutes, 60)
    return f"{prefix}{hour:02d}:{minute:02d}:{second:02d}Z"


def ms_to_datetime(ms: int) -> datetime:
    """A timezone-aware UTC datetime for an epoch-milliseconds value."""
    return datetime.fromtimestamp(ms / SECOND_MS, tz=UTC)


def parse_iso_ms(value: object) -> int | None:
    """Epoch milliseconds of an ISO 8601 date-time (naive means UTC); None when invalid.

    A bare date is rejected: the Pexip spec types `from`/`to` as date-time.
    """
    if not isinstance(value, str) or len(value) < 16 or "T" not in value.upper():
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * SECOND_MS)


_VALOMNIA_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def parse_valomnia_date(value: object) -> int | None:
    """Epoch seconds of exactly YYYY-MM-DDTHH:MM:SSZ (Valomnia's only format); else None."""
    if not isinstance(value, str) or not _VALOMNIA_DATE.fullmatch(value):
        return None
    try:
        parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return calendar.timegm(parsed.timetuple())


def salt_for(seed: int, source: str) -> int:
    """A stable per-source salt: Random seeded by a str is deterministic across processes."""
    return Random(f"{source}:{seed}").getrandbits(62)


def base_update_times(
    n: int,
    rng: Random,
    ties: float,
    *,
    end: int,
    span: int,
    bursts: int = 0,
) -> array:
    """Non-decreasing update times for the n base records, in natural order.

    Records come in groups sharing one value (group sizes 1..2*ties-1, so `ties` on
    average); `bursts` groups of 300-450 records let one value exceed a page. Values are in
    the caller's unit (ms for Pexip, seconds for Valomnia), spread over `span` units and
    strictly below `end`.
    """
    out = array("q")
    if n <= 0:
        return out
    burst_at = sorted(rng.randrange(n // 4, n - n // 10) for _ in range(bursts))
    spread = max(0.0, 2 * ties - 1)
    sizes: list[int] = []
    filled = 0
    while filled < n:
        if burst_at and filled >= burst_at[0]:
            burst_at.pop(0)
            size = rng.randint(300, 450)
        else:
            size = 1 + int(rng.random() * spread)
        size = min(size, n - filled)
        sizes.append(size)
        filled += size
    step = max(1, span // len(sizes))
    start = end - (len(sizes) + 1) * step
    for group, size in enumerate(sizes):
        out.extend([start + group * step + int(rng.random() * step)] * size)
    return out


def choice(r: Random, values: Sequence[T]) -> T:
    """Random.choice without its overhead (this is the generators' hot path)."""
    return values[int(r.random() * len(values))]


def below(r: Random, n: int) -> int:
    """Random.randrange(n) at a fraction of its cost (precision is irrelevant here)."""
    return int(r.random() * n)


def between(r: Random, low: int, high: int) -> int:
    """Random.randrange(low, high), cheaply."""
    return low + int(r.random() * (high - low))


def pick(r: Random, table: tuple[tuple[str, ...], list[int], int]) -> str:
    """A value drawn with the weights of a table made by `weighted`."""
    values, cumulative, total = table
    return values[bisect(cumulative, r.random() * total)]


def weighted(table: tuple[tuple[str, int], ...]) -> tuple[tuple[str, ...], list[int], int]:
    """(values, cumulative weights, total) of a (value, weight) table, for `pick`."""
    values = tuple(value for value, _ in table)
    cumulative: list[int] = []
    total = 0
    for _, weight in table:
        total += weight
        cumulative.append(total)
    return values, cumulative, total
