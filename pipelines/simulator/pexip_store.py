"""Pexip Engage's dataset: natural order, filters, and changes that shift offsets.

Why an explicit order array: the real API has no sort parameter and an unknown order, so
the simulator keeps one (8 bytes per record) that inserts can disturb like the real one.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from random import Random

from .arrays import with_inserted
from .data import (
    BASE_SPAN_MS,
    INITIAL_CLOCK_MS,
    MINUTE_MS,
    Record,
    base_update_times,
    iso_ms,
    salt_for,
)
from .pexip_data import PexipGenerator
from .queries import PexipQuery
from .store import Store


class PexipStore(Store[str]):
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
