"""What both simulated datasets share: lazy base records, changes, overrides, the clock.

Why this shape: base records are never stored, only generated from (seed, index) when
served. A store keeps compact arrays for its API's ordering plus dicts for the few records
changed at run time, so 1,000,000 appointments cost tens of megabytes. Every public method
takes the store's lock: the HTTP server pages while tests mutate.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from datetime import datetime
from random import Random
from typing import Any, Generic, TypeVar

import orjson

from .cache import ByteCache
from .data import INITIAL_CLOCK_MS, Record, ms_to_datetime

IdT = TypeVar("IdT", str, int)
_QUERY_CACHE_SIZE = 16


class Store(Generic[IdT]):
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
        self._observers: list[Callable[[str, list[Record]], None]] = []

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

    def observe(self, fn: Callable[[str, list[Record]], None]) -> None:
        """Call `fn(change, records)` after every change, under the store's lock (so keep it
        quick): "insert" and "update" with the records as now served, "delete" with them
        as last served. The webhook sender listens here."""
        with self._lock:
            self._observers.append(fn)

    def _notify(self, change: str, records: list[Record]) -> None:
        for fn in self._observers:
            fn(change, records)

    def _served_now(self, indexes: list[int]) -> list[Record]:
        return [orjson.loads(self._bytes(i)) for i in indexes] if self._observers else []

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
            self._notify("update", self._served_now(indexes))

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
            self._notify("insert", self._served_now(indexes))
            return [self._id_of(index) for index in indexes]

    def delete(self, ids: Iterable[IdT]) -> None:
        """Hard-delete records: they disappear from every list and from `get`."""
        with self._lock:
            indexes = list(dict.fromkeys(self._require(ident) for ident in ids))
            last_served = self._served_now(indexes)
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
            self._notify("delete", last_served)

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
