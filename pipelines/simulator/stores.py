"""The two simulated datasets: ordering, filtering and mutation of appointments.

Why this shape: base records are never stored, only generated from (seed, index) when
served. A store keeps compact arrays for order (and Valomnia's lastUpdated index) plus dicts
for the few records changed at run time, so 1,000,000 appointments cost tens of megabytes.
Every public method takes the store's lock: the HTTP server pages while tests mutate.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from datetime import datetime
from random import Random
from typing import Any, Generic, TypeVar

import orjson

from .arrays import with_inserted, without_positions
from .cache import ByteCache
from .data import (
    BASE_SPAN_MS,
    INITIAL_CLOCK_MS,
    MINUTE_MS,
    PexipGenerator,
    Record,
    ValomniaGenerator,
    base_update_times,
    iso_ms,
    iso_s,
    ms_to_datetime,
    parse_valomnia_date,
    salt_for,
)
from .queries import PexipQuery, ValomniaQuery

IdT = TypeVar("IdT", str, int)
_QUERY_CACHE_SIZE = 16


class _Store(Generic[IdT]):
    """Shared mechanics: lazy base records, materialised changes, overrides, byte cache.

    Records are addressed internally by index (0..n-1 for base records, n.. for inserted
    ones); subclasses map indexes to the API's ids and keep the API's ordering structures.
    """

    def __init__(self, n: int, seed: int, cache_bytes: int) -> None:
        self._lock = threading.RLock()
        self._n = n
        self._next_index = n
        self._clock_ms = INITIAL_CLOCK_MS
        self._records: dict[int, Record] = {}  # changed or inserted, before overrides
        self._stamps: dict[int, int] = {}  # their update time, in the store's unit
        self._overrides: dict[int, Record] = {}
        self._drops: dict[int, frozenset[str]] = {}
        self._revisions: dict[int, int] = {}
        self._deleted: set[int] = set()
        self._cache = ByteCache(max_bytes=cache_bytes)
        self._queries: OrderedDict[tuple[int, Hashable], list[int]] = OrderedDict()
        self.rng = Random(f"mutations:{seed}")  # seeded choices made on the caller's behalf
        self.version = 0  # bumps on every mutation; filtered result lists are cached per version

    # --- subclass hooks ---------------------------------------------------------------------

    def _generate(self, index: int, stamp: int, *, fresh: bool) -> Record:
        raise NotImplementedError

    def _base_stamp(self, index: int) -> int:
        raise NotImplementedError

    def _id_of(self, index: int) -> IdT:
        raise NotImplementedError

    def _index_of(self, ident: object) -> int | None:
        raise NotImplementedError

    def _stamp(self) -> int:
        raise NotImplementedError

    def _touch(self, record: Record, revision: int, stamp: int) -> None:
        """Stamp a changed record and change something a sync can see."""
        raise NotImplementedError

    def _serialize(self, index: int, record: Record) -> bytes:
        return orjson.dumps(record)

    def _order_ids(self) -> list[IdT]:
        raise NotImplementedError

    def _unplace(self, indexes: list[int]) -> None:
        """Remove records from the ordering structures (before they change or vanish)."""

    def _place(self, indexes: list[int], *, inserted: bool) -> None:
        """Put records (back) into the ordering structures."""

    def count(self) -> int:
        raise NotImplementedError

    # --- public API -------------------------------------------------------------------------

    @property
    def clock(self) -> datetime:
        """The simulated now (UTC): base data is strictly older; changes are stamped with it."""
        return ms_to_datetime(self._clock_ms)

    def tick(self, seconds: float = 1.0) -> datetime:
        """Advance the clock; changes after a tick get a new, later timestamp."""
        if seconds < 0:
            raise ValueError("the simulated clock never goes backwards")
        with self._lock:
            self._clock_ms += round(seconds * 1000)
            return self.clock

    def ids(self) -> list[IdT]:
        """Current ids in the API's natural order."""
        with self._lock:
            return self._order_ids()

    def get(self, ident: IdT) -> Record:
        """The record exactly as the API serves it now (parsed from the served bytes)."""
        with self._lock:
            return orjson.loads(self._bytes(self._require(ident)))

    def records(self) -> Iterator[Record]:
        """All current records in natural order (a snapshot of the ids at the call)."""
        for ident in self.ids():
            try:
                yield self.get(ident)
            except KeyError:
                continue

    def update(self, ids: Iterable[IdT], drop: Iterable[str] = (), **fields: Any) -> None:
        """Change records now: new update time, a visible change, then raw field overrides.

        `fields` replace top-level keys and persist across later updates until overridden
        again; `drop` removes keys from the served JSON (also persistent; setting a dropped
        key through `fields` brings it back).
        """
        dropped = frozenset(drop)
        with self._lock:
            indexes = list(dict.fromkeys(self._require(ident) for ident in ids))
            if not indexes:
                return
            stamp = self._stamp()
            self._unplace(indexes)
            for index in indexes:
                record = dict(self._current(index))
                revision = self._revisions.get(index, 0) + 1
                self._touch(record, revision, stamp)
                self._records[index] = record
                self._stamps[index] = stamp
                self._revisions[index] = revision
                if fields:
                    self._overrides.setdefault(index, {}).update(fields)
                drops = (self._drops.get(index, frozenset()) | dropped) - fields.keys()
                if drops:
                    self._drops[index] = drops
                else:
                    self._drops.pop(index, None)
                self._cache.discard(index)
            self._place(indexes, inserted=False)
            self.version += 1

    def insert(self, n: int) -> list[IdT]:
        """Create n records stamped with the clock; returns their ids."""
        with self._lock:
            stamp = self._stamp()
            indexes = list(range(self._next_index, self._next_index + n))
            self._next_index += n
            for index in indexes:
                self._records[index] = self._generate(index, stamp, fresh=True)
                self._stamps[index] = stamp
            self._place(indexes, inserted=True)
            self.version += 1
            return [self._id_of(index) for index in indexes]

    def delete(self, ids: Iterable[IdT]) -> None:
        """Hard-delete records: they disappear from every list and from `get`."""
        with self._lock:
            indexes = list(dict.fromkeys(self._require(ident) for ident in ids))
            self._unplace(indexes)
            for index in indexes:
                self._deleted.add(index)
                for mapping in (
                    self._records,
                    self._stamps,
                    self._overrides,
                    self._drops,
                    self._revisions,
                ):
                    mapping.pop(index, None)
                self._cache.discard(index)
            self.version += 1

    def choose(self, fraction: float) -> list[IdT]:
        """A seeded random sample of current ids (for benchmarks that update a fraction)."""
        with self._lock:
            current = self._order_ids()
            k = min(len(current), round(len(current) * fraction))
            return self.rng.sample(current, k)

    # --- internals --------------------------------------------------------------------------

    def _require(self, ident: object) -> int:
        index = self._index_of(ident)
        if index is None or not 0 <= index < self._next_index or index in self._deleted:
            raise KeyError(ident)
        return index

    def _current(self, index: int) -> Record:
        record = self._records.get(index)
        if record is None:
            record = self._generate(index, self._base_stamp(index), fresh=False)
        return record

    def _served(self, index: int) -> Record:
        record = self._current(index)
        overrides = self._overrides.get(index)
        drops = self._drops.get(index)
        if overrides or drops:
            record = {**record, **(overrides or {})}
            for key in drops or ():
                record.pop(key, None)
        return record

    def _bytes(self, index: int) -> bytes:
        cached = self._cache.get(index)
        if cached is None:
            cached = self._serialize(index, self._served(index))
            self._cache.put(index, cached)
        return cached

    def _cached(self, key: Hashable, compute: Callable[[], list[int]]) -> list[int]:
        """Filtered result lists, reused while no mutation happened (paging is then O(page))."""
        full_key = (self.version, key)
        hit = self._queries.get(full_key)
        if hit is None:
            hit = self._queries[full_key] = compute()
            while len(self._queries) > _QUERY_CACHE_SIZE:
                self._queries.popitem(last=False)
        return hit


class PexipStore(_Store[str]):
    """Pexip Engage appointments in the API's natural (undocumented, unsortable) order.

    Base updatedAt values are non-decreasing along the natural order, with ties; updates keep
    a record's position, inserts land at seeded random positions (so offsets shift).
    """

    def __init__(
        self,
        n: int,
        seed: int = 42,
        *,
        ties_per_second: float = 5,
        enterprise: str = "acme",
        client_id: str = "apptsync",
        client_secret: str = "pexip-secret",
        cache_bytes: int = 192 * 1024 * 1024,
    ) -> None:
        super().__init__(n, seed, cache_bytes)
        # What the simulator accepts for this API, so a test can configure a source from it.
        self.enterprise, self.client_id, self.client_secret = enterprise, client_id, client_secret
        salt = salt_for(seed, "pexip")
        self._gen = PexipGenerator(salt, n // 3, enterprise)
        self._base = base_update_times(
            n,
            Random(salt + 1),
            ties_per_second,
            end=INITIAL_CLOCK_MS - MINUTE_MS,
            span=BASE_SPAN_MS,
        )
        self._order = array("q", range(n))

    def count(self) -> int:
        with self._lock:
            return len(self._order)

    def page(self, query: PexipQuery, offset: int, limit: int) -> tuple[list[bytes], int]:
        """Serialized records of one page and the total count of matching records."""
        with self._lock:
            selected: array | list[int]
            if query.is_empty():
                selected = self._order
            else:
                selected = self._cached(query, lambda: self._matching(query))
            return [self._bytes(i) for i in selected[offset : offset + limit]], len(selected)

    def _matching(self, query: PexipQuery) -> list[int]:
        candidates: Iterable[int] = self._order
        wanted_ids = query.values("id")
        if wanted_ids is not None:
            wanted = {self._gen.ids.decode(ident) for ident in wanted_ids}
            candidates = [index for index in self._order if index in wanted]
        return [index for index in candidates if query.matches(self._served(index))]

    def _generate(self, index: int, stamp: int, *, fresh: bool) -> Record:
        return self._gen.record(index, stamp, fresh=fresh)

    def _base_stamp(self, index: int) -> int:
        return self._base[index]

    def _id_of(self, index: int) -> str:
        return self._gen.ids.encode(index)

    def _index_of(self, ident: object) -> int | None:
        return self._gen.ids.decode(ident)

    def _stamp(self) -> int:
        return self._clock_ms

    def _touch(self, record: Record, revision: int, stamp: int) -> None:
        record["updatedAt"] = iso_ms(stamp)
        record["internalNotes"] = f"Revision {revision}"
        employees = [
            person["participant"]
            for person in record.get("appointmentParticipants") or []
            if isinstance(person, dict) and person.get("type") == "EMPLOYEE"
        ]
        if employees:
            record["updatedBy"] = {"id": employees[0]["id"]}
        record["updatedByType"] = "EMPLOYEE"
        record["updatedFrom"] = "BACKOFFICE_APP"

    def _order_ids(self) -> list[str]:
        return [self._gen.ids.encode(index) for index in self._order]

    def _place(self, indexes: list[int], *, inserted: bool) -> None:
        if not inserted:
            return  # updates keep their position in the natural order
        positions = sorted(self.rng.randint(0, len(self._order)) for _ in indexes)
        self._order = with_inserted(self._order, list(zip(positions, indexes, strict=True)))

    def delete(self, ids: Iterable[str]) -> None:
        with self._lock:
            doomed = {self._require(ident) for ident in ids}
            if len(doomed) <= 4:
                for index in doomed:
                    del self._order[self._order.index(index)]
            else:
                self._order = array("q", [i for i in self._order if i not in doomed])
            super().delete([self._id_of(index) for index in doomed])


class ValomniaStore(_Store[int]):
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
