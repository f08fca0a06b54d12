"""Parsed list queries and how a record matches them.

Why separate from the routes: the routes turn query strings into these objects (and into
each API's error format); the stores only see validated, hashable queries, which they use
as cache keys for filtered result lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .data import parse_iso_ms, parse_valomnia_date

Record = dict[str, Any]

# Pexip array filter -> (top-level key, nested key or None) of the appointment.
PEXIP_SCALAR_FILTERS: dict[str, tuple[str, str | None]] = {
    "id": ("id", None),
    "external-id": ("externalId", None),
    "meeting-type": ("meetingType", None),
    "status": ("status", None),
    "callback-request-id": ("callbackRequest", "id"),
    "listing-id": ("listing", "id"),
    "lead-segment-id": ("leadSegment", "id"),
    "subject-id": ("subject", "id"),
    "office-id": ("office", "id"),
}
# Pexip participant filters -> participant type they look at.
PEXIP_PARTICIPANT_FILTERS = {"customer-id": "CUSTOMER", "employee-id": "EMPLOYEE"}
PEXIP_ARRAY_FILTERS = (*PEXIP_SCALAR_FILTERS, *PEXIP_PARTICIPANT_FILTERS)


def _nested(record: Record, key: str, inner: str | None) -> Any:
    value = record.get(key)
    if inner is None:
        return value
    return value.get(inner) if isinstance(value, dict) else None


@dataclass(frozen=True)
class PexipQuery:
    """Filters of `GET /appointments`: OR within one array filter, AND across filters."""

    arrays: tuple[tuple[str, frozenset[str]], ...] = ()
    from_ms: int | None = None
    to_ms: int | None = None

    def is_empty(self) -> bool:
        return not self.arrays and self.from_ms is None and self.to_ms is None

    def values(self, name: str) -> frozenset[str] | None:
        for key, values in self.arrays:
            if key == name:
                return values
        return None

    def matches(self, record: Record) -> bool:
        for name, wanted in self.arrays:
            if name in PEXIP_PARTICIPANT_FILTERS:
                kind = PEXIP_PARTICIPANT_FILTERS[name]
                people = record.get("appointmentParticipants") or []
                if not any(
                    isinstance(person, dict)
                    and person.get("type") == kind
                    and _nested(person, "participant", "id") in wanted
                    for person in people
                ):
                    return False
            elif _nested(record, *PEXIP_SCALAR_FILTERS[name]) not in wanted:
                return False
        if self.from_ms is not None:
            start = parse_iso_ms(record.get("start"))
            if start is None or start < self.from_ms:
                return False
        if self.to_ms is not None:
            end = parse_iso_ms(record.get("end"))
            if end is None or end > self.to_ms:
                return False
        return True


VALOMNIA_SORT_FIELDS = ("id", "dateCreated", "lastUpdated", "title", "startDate", "endDate")
VALOMNIA_DATE_FIELDS = ("dateCreated", "lastUpdated", "startDate", "endDate")
VALOMNIA_OPERATORS = ("gt", "gte", "lt", "lte")
# Wildcard filter -> (top-level key, nested key or None) of the appointment.
VALOMNIA_WILDCARDS: dict[str, tuple[str, str | None]] = {
    "title": ("title", None),
    "customerReference": ("customer", "reference"),
    "employeeReference": ("employee", "reference"),
}


def wildcard_pattern(value: str) -> re.Pattern[str]:
    """`*` matches any run of characters; without `*` the value must match exactly."""
    return re.compile(".*".join(re.escape(part) for part in value.split("*")), re.DOTALL)


def compare(value: int, operator: str, bound: int) -> bool:
    if operator == "gt":
        return value > bound
    if operator == "gte":
        return value >= bound
    if operator == "lt":
        return value < bound
    return value <= bound


@dataclass(frozen=True)
class ValomniaQuery:
    """Sorting, date filters and wildcard filters of `GET /api/v1.0/appointments`.

    Sorting is by `sort` (default id) in `order` (default asc); rows with equal sort keys
    are always ordered by id ascending, in both directions, so paging is deterministic.
    """

    sort: str = "id"
    descending: bool = False
    dates: tuple[tuple[str, str, int], ...] = ()  # (field, operator, epoch seconds)
    wildcards: tuple[tuple[str, str], ...] = ()  # (parameter, raw pattern)
    _patterns: dict[str, re.Pattern[str]] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    @property
    def last_updated_bounds(self) -> tuple[tuple[str, int], ...]:
        return tuple((op, bound) for name, op, bound in self.dates if name == "lastUpdated")

    @property
    def has_record_filters(self) -> bool:
        """True when matching needs the records, not just the lastUpdated index."""
        return bool(self.wildcards) or any(name != "lastUpdated" for name, _, _ in self.dates)

    def key(self) -> tuple[object, ...]:
        return (self.sort, self.descending, self.dates, self.wildcards)

    def matches(self, record: Record) -> bool:
        """Record-level filters; lastUpdated bounds are applied by the store's index."""
        for name, operator, bound in self.dates:
            if name == "lastUpdated":
                continue
            value = parse_valomnia_date(record.get(name))
            if value is None or not compare(value, operator, bound):
                return False
        for name, raw in self.wildcards:
            pattern = self._patterns.get(name)
            if pattern is None:
                pattern = self._patterns[name] = wildcard_pattern(raw)
            value = _nested(record, *VALOMNIA_WILDCARDS[name])
            if not isinstance(value, str) or not pattern.fullmatch(value):
                return False
        return True

    def sort_key(self, record: Record) -> tuple[bool, Any]:
        """Key of a record for `sort` (not id/lastUpdated); missing values sort first."""
        value = record.get(self.sort)
        if self.sort == "title":
            return (isinstance(value, str), value if isinstance(value, str) else "")
        parsed = parse_valomnia_date(value)
        return (parsed is not None, parsed or 0)
