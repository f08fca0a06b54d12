"""Valomnia's dataset: id order plus a (lastUpdated, id) index for incremental syncs.

Why the second index: `sort=lastUpdated` with `lastUpdated_gte` is how a Valomnia sync
pages; a sorted array makes it a bisect at any size, and updates move rows to its end.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from random import Random

import orjson

from .arrays import with_inserted, without_positions
from .data import (
    BASE_SPAN_MS,
    INITIAL_CLOCK_MS,
    MINUTE_MS,
    Record,
    base_update_times,
    iso_s,
    parse_valomnia_date,
    salt_for,
)
from .queries import ValomniaQuery
from .store import Store
from .valomnia_data import ValomniaGenerator


class ValomniaStore(Store[int]):
    """Valomnia appointments: ids ascending is the natural order, ids are index + 1.

    Besides the id array the store keeps a (lastUpdated, id)-sorted index, so
    `sort=lastUpdated` with lastUpdated bounds is a bisect at any size.
    """

    def __init__(
        self,
        n: int,
        seed: int = 42,
        *,
        ties_per_second: float = 5,
        username: str = "sync@acme.test",
        password: str = "valomnia-secret",
        cache_bytes: int = 128 * 1024 * 1024,
    ) -> None:
        super().__init__(n, seed, cache_bytes)
        # What the simulator accepts for this API, so a test can configure a source from it.
        self.username, self.password = username, password
        salt = salt_for(seed, "valomnia")
        self._gen = ValomniaGenerator(salt, n // 3)
        bursts = 0 if n < 1000 else min(5, 1 + n // 200_000)
        self._base = base_update_times(
            n,
            Random(salt + 1),
            ties_per_second,
            end=(INITIAL_CLOCK_MS - MINUTE_MS) // 1000,
            span=BASE_SPAN_MS // 1000,
            bursts=bursts,
        )
        self._ids = array("q", range(1, n + 1))
        # Base lastUpdated is non-decreasing in id order, so the index starts as a copy.
        self._lu_ids = array("q", self._ids)
        self._lu_vals = array("q", self._base)

    def count(self) -> int:
        with self._lock:
            return len(self._ids)

    def page(self, query: ValomniaQuery, offset: int, limit: int) -> tuple[list[bytes], int]:
        """Serialized records of one page and the total count of matching records."""
        with self._lock:
            idents: Iterable[int]
            if query.sort == "lastUpdated" and not query.has_record_filters:
                lo, hi = self._last_updated_range(query)
                positions = self._index_positions(lo, hi, offset, limit, query.descending)
                idents = [self._lu_ids[position] for position in positions]
                total = hi - lo
            elif query.sort == "id" and not query.dates and not query.wildcards:
                total = len(self._ids)
                if query.descending:
                    first = total - 1 - offset
                    idents = [self._ids[j] for j in range(first, max(first - limit, -1), -1)]
                else:
                    idents = self._ids[offset : offset + limit]
            else:
                selected = self._cached(query.key(), lambda: self._select(query))
                idents, total = selected[offset : offset + limit], len(selected)
            return [self._bytes(ident - 1) for ident in idents], total

    def _last_updated_range(self, query: ValomniaQuery) -> tuple[int, int]:
        values = self._lu_vals
        lo, hi = 0, len(values)
        for operator, bound in query.last_updated_bounds:
            if operator == "gt":
                lo = max(lo, bisect_right(values, bound))
            elif operator == "gte":
                lo = max(lo, bisect_left(values, bound))
            elif operator == "lt":
                hi = min(hi, bisect_left(values, bound))
            else:
                hi = min(hi, bisect_right(values, bound))
        return lo, max(lo, hi)

    def _index_positions(
        self, lo: int, hi: int, offset: int, limit: int, descending: bool
    ) -> list[int]:
        """Index positions of one page; descending keeps ties in id-ascending order."""
        count = max(0, min(hi - lo - offset, limit))
        if not descending:
            return list(range(lo + offset, lo + offset + count))
        values = self._lu_vals
        positions = []
        for j in range(offset, offset + count):
            mirrored = hi - 1 - j
            value = values[mirrored]
            group_lo = bisect_left(values, value, lo, hi)
            group_hi = bisect_right(values, value, lo, hi)
            positions.append(group_lo + (group_hi - 1 - mirrored))
        return positions

    def _select(self, query: ValomniaQuery) -> list[int]:
        """The slow path: filtered and sorted ids (cached per query and store version)."""
        if query.last_updated_bounds:
            lo, hi = self._last_updated_range(query)
            idents = list(self._lu_ids[lo:hi])
            in_index_order = True
        else:
            idents = list(self._ids)
            in_index_order = False
        if query.has_record_filters:
            idents = [i for i in idents if query.matches(self._served(i - 1))]
        if query.sort == "lastUpdated":
            if not in_index_order:
                idents.sort(key=lambda i: (self._index_value(i - 1), i))
            if query.descending:
                idents.sort(key=lambda i: self._index_value(i - 1), reverse=True)
        else:
            idents.sort()
            if query.sort != "id":
                keys = {i: query.sort_key(self._served(i - 1)) for i in idents}
                idents.sort(key=keys.__getitem__, reverse=query.descending)
            elif query.descending:
                idents.reverse()
        return idents

    def _index_value(self, index: int) -> int:
        """The lastUpdated second the index sorts a record by (a valid override wins)."""
        override = self._overrides.get(index, {}).get("lastUpdated")
        parsed = parse_valomnia_date(override) if override is not None else None
        if parsed is not None:
            return parsed
        stamp = self._stamps.get(index)
        return self._base[index] if stamp is None else stamp

    def _index_position(self, index: int) -> int:
        value, ident = self._index_value(index), index + 1
        lo = bisect_left(self._lu_vals, value)
        hi = bisect_right(self._lu_vals, value, lo)
        position = bisect_left(self._lu_ids, ident, lo, hi)
        if position >= hi or self._lu_ids[position] != ident:
            raise RuntimeError(f"lastUpdated index lost appointment {ident}")
        return position

    def _unplace(self, indexes: list[int]) -> None:
        positions = [self._index_position(index) for index in indexes]
        self._lu_ids = without_positions(self._lu_ids, positions)
        self._lu_vals = without_positions(self._lu_vals, positions)

    def _place(self, indexes: list[int], *, inserted: bool) -> None:
        if inserted:
            self._ids.extend(index + 1 for index in indexes)
        entries = sorted((self._index_value(index), index + 1) for index in indexes)
        id_inserts, value_inserts = [], []
        for value, ident in entries:
            lo = bisect_left(self._lu_vals, value)
            hi = bisect_right(self._lu_vals, value, lo)
            position = bisect_left(self._lu_ids, ident, lo, hi)
            id_inserts.append((position, ident))
            value_inserts.append((position, value))
        self._lu_ids = with_inserted(self._lu_ids, id_inserts)
        self._lu_vals = with_inserted(self._lu_vals, value_inserts)

    def delete(self, ids: Iterable[int]) -> None:
        with self._lock:
            indexes = [self._require(ident) for ident in ids]
            positions = [bisect_left(self._ids, index + 1) for index in indexes]
            self._ids = without_positions(self._ids, positions)
            super().delete([index + 1 for index in indexes])

    def _generate(self, index: int, stamp: int, *, fresh: bool) -> Record:
        return self._gen.record(index, stamp, fresh=fresh)

    def _base_stamp(self, index: int) -> int:
        return self._base[index]

    def _id_of(self, index: int) -> int:
        return index + 1

    def _index_of(self, ident: object) -> int | None:
        if isinstance(ident, bool) or not isinstance(ident, int | str):
            return None
        try:
            return int(ident) - 1
        except ValueError:
            return None

    def _stamp(self) -> int:
        return self._clock_ms // 1000

    def _touch(self, record: Record, revision: int, stamp: int) -> None:
        record["lastUpdated"] = iso_s(stamp)
        record["note"] = f"Revision {revision}"
        record["done"] = not record.get("done")

    def _serialize(self, index: int, record: Record) -> bytes:
        """orjson cannot repeat a key, so the stale appointmentCategoryId is spliced in."""
        raw = orjson.dumps(record)
        stale = self._gen.stale_category(index, record.get("appointmentCategoryId"))
        if stale is not None:
            key = b'"appointmentCategoryId":'
            raw = raw.replace(key, key + b"%d," % stale + key, 1)
        return raw

    def _order_ids(self) -> list[int]:
        return list(self._ids)
