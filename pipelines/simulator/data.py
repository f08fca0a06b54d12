"""Seeded record generators: every base record is a pure function of (seed, index).

Why lazy and index-addressed: a simulator with 1,000,000 appointments per source must not
hold a million dicts. The stores keep compact arrays (order, update times) and ask these
generators for a record only when it is served or filtered; the same (seed, index) always
yields the same record, whatever else happened, so runs are reproducible.
"""

from __future__ import annotations

import calendar
import re
import time
import unicodedata
from array import array
from bisect import bisect
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from random import Random
from typing import Any, TypeVar

from . import vocab

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


def _weighted(table: tuple[tuple[str, int], ...]) -> tuple[tuple[str, ...], list[int], int]:
    values = tuple(value for value, _ in table)
    cumulative: list[int] = []
    total = 0
    for _, weight in table:
        total += weight
        cumulative.append(total)
    return values, cumulative, total


_STATUSES = _weighted(vocab.PEXIP_STATUSES)
_MEETING_TYPES = _weighted(vocab.PEXIP_MEETING_TYPES)
_FORM_BY_ANSWER_TYPE = dict(zip(vocab.PEXIP_ANSWER_TYPES, vocab.PEXIP_FORMS, strict=False))


def _choice(r: Random, values: Sequence[T]) -> T:
    """Random.choice without its overhead (this is the generators' hot path)."""
    return values[int(r.random() * len(values))]


def _below(r: Random, n: int) -> int:
    """Random.randrange(n) at a fraction of its cost (precision is irrelevant here)."""
    return int(r.random() * n)


def _between(r: Random, low: int, high: int) -> int:
    """Random.randrange(low, high), cheaply."""
    return low + int(r.random() * (high - low))


def _pick(r: Random, weighted: tuple[tuple[str, ...], list[int], int]) -> str:
    values, cumulative, total = weighted
    return values[bisect(cumulative, r.random() * total)]


class PexipIds:
    """Bijection between base/inserted record indexes and Pexip's string ids.

    Ids look random in list order (like the real API's unknown order) yet decode in O(1):
    id = 1 + (index * a + b) mod p with p prime, so no id table is needed at 1M records.
    """

    PRIME = 2_147_483_647

    def __init__(self, rng: Random) -> None:
        self._a = rng.randrange(2, self.PRIME - 1)
        self._b = rng.randrange(self.PRIME)
        self._a_inverse = pow(self._a, -1, self.PRIME)

    def encode(self, index: int) -> str:
        return str(1 + (index * self._a + self._b) % self.PRIME)

    def decode(self, value: object) -> int | None:
        """The index of an id, or None when the string cannot be one of ours."""
        if not isinstance(value, str) or not value.isdigit() or len(value) > 10:
            return None
        index = ((int(value) - 1 - self._b) * self._a_inverse) % self.PRIME
        return index if self.encode(index) == value else None


class PexipGenerator:
    """Builds Pexip Engage appointments with every field of the spec."""

    def __init__(self, salt: int, customers: int, enterprise: str) -> None:
        self._salt = salt
        self._customers = max(1, customers)
        self._enterprise = enterprise
        self.ids = PexipIds(Random(salt))
        self._office_locations = [
            self._address(
                Random(salt ^ (office + 1)), vocab.PEXIP_LOCALES[office % len(vocab.PEXIP_LOCALES)]
            )
            for office in range(len(vocab.PEXIP_OFFICES))
        ]

    def record(self, index: int, updated_ms: int, *, fresh: bool = False) -> Record:
        """The appointment at `index`, last updated at `updated_ms`.

        `fresh` records (inserted while the simulator runs) were created at that same time.
        """
        r = Random((self._salt << 40) | index)
        status = _pick(r, _STATUSES)
        meeting_type = _pick(r, _MEETING_TYPES)
        if fresh or r.random() < 0.3:
            created_ms = updated_ms
        else:
            created_ms = updated_ms - _between(r, MINUTE_MS, 40 * DAY_MS)
        start, end = self._times(r, status, created_ms, updated_ms)
        office = _below(r, len(vocab.PEXIP_OFFICES))
        employee = vocab.PEXIP_EMPLOYEES[_below(r, len(vocab.PEXIP_EMPLOYEES))]
        customer = str(vocab.PEXIP_CUSTOMER_ID_BASE + _below(r, self._customers))
        created_by_type, created_by, created_from = self._actor(r, employee, customer)
        if created_ms == updated_ms:
            updated_by_type, updated_by, updated_from = created_by_type, created_by, created_from
        else:
            updated_by_type, updated_by, updated_from = self._actor(r, employee, customer)
        return {
            "id": self.ids.encode(index),
            "externalId": None if r.random() < 0.35 else f"CRM-{r.getrandbits(32):08X}",
            "start": start,
            "end": end,
            "subject": {"id": vocab.PEXIP_SUBJECTS[_below(r, len(vocab.PEXIP_SUBJECTS))]},
            "office": {"id": vocab.PEXIP_OFFICES[office]},
            "appointmentParticipants": self._participants(r, meeting_type, employee, customer),
            "answers": self._answers(r, index, created_ms, updated_ms),
            "callbackRequest": {"id": str(600_000 + _below(r, 90_000))}
            if r.random() < 0.15
            else None,
            "listing": {"id": _choice(r, vocab.PEXIP_LISTINGS)} if r.random() < 0.15 else None,
            "leadSegment": {"id": _choice(r, vocab.PEXIP_LEAD_SEGMENTS)}
            if r.random() < 0.4
            else None,
            "meetingRoom": {"id": _choice(r, vocab.PEXIP_MEETING_ROOMS)}
            if meeting_type == "OFFICE" and r.random() < 0.5
            else None,
            "meetingType": meeting_type,
            "status": status,
            "hybrid": meeting_type == "OFFICE" and r.random() < 0.15,
            "trailingBufferTime": _choice(r, vocab.PEXIP_TRAILING_BUFFERS),
            "internalNotes": _choice(r, vocab.PEXIP_INTERNAL_NOTES) if r.random() < 0.4 else None,
            "messageForCustomer": _choice(r, vocab.PEXIP_MESSAGES) if r.random() < 0.3 else None,
            "createdAt": iso_ms(created_ms),
            "createdBy": created_by,
            "createdByType": created_by_type,
            "createdFrom": created_from,
            "updatedAt": iso_ms(updated_ms),
            "updatedBy": updated_by,
            "updatedByType": updated_by_type,
            "updatedFrom": updated_from,
            "location": self._location(r, meeting_type, office),
        }

    @staticmethod
    def _times(
        r: Random, status: str, created_ms: int, updated_ms: int
    ) -> tuple[str | None, str | None]:
        if status == "INCOMING_REQUEST" and r.random() < 0.5:
            return None, None
        if status in ("COMPLETED", "NO_SHOW"):
            start = updated_ms - _between(r, HOUR_MS, 5 * DAY_MS)
        else:
            start = created_ms + _between(r, HOUR_MS, 45 * DAY_MS)
        start -= start % (15 * MINUTE_MS)
        end = start + _choice(r, vocab.PEXIP_DURATIONS_MIN) * MINUTE_MS
        return iso_ms(start), None if r.random() < 0.01 else iso_ms(end)

    @staticmethod
    def _actor(r: Random, employee: str, customer: str) -> tuple[str, dict | None, str]:
        roll = r.random()
        if roll < 0.45:
            origin = "PLUGIN" if r.random() < 0.8 else "PARTNER_BOOKING_APP"
            return "CUSTOMER", {"id": customer}, origin
        if roll < 0.9:
            origin = "BACKOFFICE_APP" if r.random() < 0.9 else "OTHER"
            return "EMPLOYEE", {"id": employee}, origin
        return "OTHER", None, "OTHER"

    def _participants(
        self, r: Random, meeting_type: str, employee: str, customer: str
    ) -> list[Record]:
        video = meeting_type == "VIDEO"
        room = f"https://meet.{self._enterprise}.pexipengage.com/v/{r.getrandbits(40):010x}"

        def participant(role: str, kind: str, pid: str) -> Record:
            return {
                "role": role,
                "participant": {"id": pid},
                "type": kind,
                "videoUrl": room if video else None,
                "videoTestUrl": f"https://meet.{self._enterprise}.pexipengage.com/test"
                if video
                else None,
            }

        people = [participant("PRIMARY", "EMPLOYEE", employee)]
        customer_row = participant("PRIMARY", "CUSTOMER", customer)
        if r.random() < 0.1:
            customer_row["participant"]["externalId"] = f"C-{r.getrandbits(24):06d}"
        people.append(customer_row)
        if r.random() < 0.25:
            colleague = vocab.PEXIP_EMPLOYEES[_below(r, len(vocab.PEXIP_EMPLOYEES))]
            people.append(participant("SECONDARY", "EMPLOYEE", colleague))
        if r.random() < 0.1:
            partner = str(vocab.PEXIP_CUSTOMER_ID_BASE + _below(r, self._customers))
            people.append(participant("SECONDARY", "CUSTOMER", partner))
        if r.random() < 0.2:
            people.reverse()
        return people

    @staticmethod
    def _answers(r: Random, index: int, created_ms: int, updated_ms: int) -> list[Record]:
        answers: list[Record] = []
        for position in range(_choice(r, (0, 0, 0, 1, 1, 2, 2, 3, 4, 5, 6))):
            question = _choice(r, vocab.PEXIP_QUESTIONS)
            answer_created = created_ms + int(r.random() * (updated_ms - created_ms))
            answer_updated = answer_created
            if r.random() < 0.3:
                answer_updated += int(r.random() * (updated_ms - answer_created))
            value: str | None = None
            options: list[Record] | None = None
            files: list[Record] | None = None
            if question.kind == "text":
                value = _choice(r, question.values)
            elif question.kind == "choice":
                options = [{"id": _choice(r, question.options)}]
            elif question.kind == "multi":
                picked = r.sample(question.options, _below(r, 4))
                options = [{"id": option} for option in picked]
            else:
                files = [
                    {"id": str(9_000_000_000 + index * 16 + position * 2 + k)}
                    for k in range(_below(r, 3))
                ]
            answers.append(
                {
                    "value": value,
                    "selectedAnswerOptions": options,
                    "files": files,
                    "id": str(4_000_000_000 + index * 8 + position),
                    "form": {"id": _FORM_BY_ANSWER_TYPE[question.answer_type]},
                    "question": {"id": question.id},
                    "answerType": question.answer_type,
                    "createdAt": iso_ms(answer_created),
                    "updatedAt": iso_ms(answer_updated),
                }
            )
        return answers

    def _location(self, r: Random, meeting_type: str, office: int) -> Record | None:
        if meeting_type in ("PHONE", "VIDEO") and r.random() < 0.9:
            return None
        if meeting_type == "OFFICE":
            return self._office_locations[office]
        return self._address(r, _choice(r, vocab.PEXIP_LOCALES))

    @staticmethod
    def _address(r: Random, locale: vocab.Locale) -> Record:
        city = _choice(r, locale.cities)
        language = locale.language

        def text(value: str, null_rate: float) -> Record | None:
            return None if r.random() < null_rate else {"language": language, "value": value}

        street = f"{_choice(r, locale.streets)} {_between(r, 1, 241)}"
        street2 = _choice(r, locale.street2) if r.random() < 0.2 else None
        postal = None if r.random() < 0.1 else f"{city.postal}{_between(r, 100, 1000)}"
        parts = (street, street2, postal, city.name, locale.country)
        return {
            "city": text(city.name, 0.05),
            "state": text(city.state, 0.3),
            "street1": text(street, 0.05),
            "street2": None if street2 is None else {"language": language, "value": street2},
            "postalCode": postal,
            "countryCode": locale.country,
            "formattedAddress": ", ".join(part for part in parts if part),
            "geolocation": {
                "latitude": round(city.latitude + (r.random() - 0.5) / 10, 7),
                "longitude": round(city.longitude + (r.random() - 0.5) / 10, 7),
            },
        }


def _ascii(value: str) -> str:
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return folded.lower().replace(" ", "")


class ValomniaGenerator:
    """Builds Valomnia appointments (ids are index + 1) with customer, category, employee.

    Customers, employees and contacts are pure functions of their ids, so the same customer
    looks the same in every appointment that mentions it.
    """

    def __init__(self, salt: int, customers: int) -> None:
        self._salt = salt
        self._customers = max(1, customers)

    def record(self, index: int, updated_s: int, *, fresh: bool = False) -> Record:
        r = Random((self._salt << 40) | index)
        if fresh or r.random() < 0.4:
            created = updated_s
        else:
            created = updated_s - _between(r, 60, 30 * 86_400)
        start = created if r.random() < 0.05 else created + _between(r, 0, 45 * 86_400)
        start += -start % 300  # round up to 5 minutes: never before dateCreated
        end = start + _choice(r, (0, 900, 1800, 3600, 3600, 5400, 7200))
        customer_id = None if r.random() < 0.12 else 1 + _below(r, self._customers)
        category = None if r.random() < 0.1 else _choice(r, vocab.VALOMNIA_CATEGORIES)
        employee_id = 1 + _below(r, vocab.VALOMNIA_EMPLOYEE_COUNT)
        contacts: list[Record] = []
        if customer_id is not None and r.random() < 0.6:
            picks = sorted(r.sample(range(4), _between(r, 1, 4)))
            contacts = [self.contact(customer_id, slot) for slot in picks]
        return {
            "id": index + 1,
            "dateCreated": iso_s(created),
            "lastUpdated": iso_s(updated_s),
            "title": _choice(r, vocab.VALOMNIA_TITLES),
            "note": _choice(r, vocab.VALOMNIA_NOTES) if r.random() < 0.3 else None,
            "startDate": iso_s(start),
            "endDate": iso_s(end),
            "done": start < updated_s and r.random() < 0.8,
            "customerId": customer_id,
            "customer": None if customer_id is None else self.customer(customer_id),
            "appointmentCategoryId": None if category is None else category[0],
            "appointmentCategory": None
            if category is None
            else {
                "id": category[0],
                "reference": category[1],
                "name": category[2],
                "href": f"/api/v1.0/appointmentCategories/{category[0]}",
            },
            "employeeId": employee_id,
            "employee": self.employee(employee_id),
            "contacts": contacts,
        }

    def stale_category(self, index: int, category_id: object) -> int | None:
        """For ~3% of records, the stale id the raw JSON repeats before the real one."""
        if not isinstance(category_id, int) or (index * 2_654_435_761 + self._salt) % 100 >= 3:
            return None
        return category_id % len(vocab.VALOMNIA_CATEGORIES) + 1

    @staticmethod
    @lru_cache(maxsize=65_536)
    def customer(customer_id: int) -> Record:
        """Shared between records (cached): the stores never mutate nested objects."""
        prefixes, names = vocab.VALOMNIA_SHOP_PREFIXES, vocab.VALOMNIA_SHOP_NAMES
        name = f"{prefixes[customer_id % len(prefixes)]} {names[(customer_id // 9) % len(names)]}"
        return {
            "id": customer_id,
            "reference": f"Ref-{customer_id}",
            "name": name,
            "href": f"/api/v1.0/customers/{customer_id}",
        }

    @staticmethod
    @lru_cache(maxsize=1024)
    def employee(employee_id: int) -> Record:
        first = vocab.VALOMNIA_FIRST_NAMES[employee_id % len(vocab.VALOMNIA_FIRST_NAMES)]
        last = vocab.VALOMNIA_LAST_NAMES[(employee_id * 7) % len(vocab.VALOMNIA_LAST_NAMES)]
        return {
            "id": employee_id,
            "reference": f"EMP-{employee_id:03d}",
            "name": f"{first} {last}",
            "href": f"/api/v1.0/employees/{employee_id}",
        }

    @staticmethod
    @lru_cache(maxsize=65_536)
    def contact(customer_id: int, slot: int) -> Record:
        firsts, lasts = vocab.VALOMNIA_FIRST_NAMES, vocab.VALOMNIA_LAST_NAMES
        first = firsts[(customer_id * 31 + slot * 7) % len(firsts)]
        last = lasts[(customer_id * 17 + slot * 11) % len(lasts)]
        digits = f"{(customer_id * 7919 + slot * 104_729) % 1_000_000:06d}"
        seed = customer_id + slot
        email = f"{_ascii(first)}.{_ascii(last)}@shop{customer_id}.tn"
        return {
            "id": (customer_id - 1) * 4 + slot + 1,
            "firstName": first,
            "lastName": last,
            "email": None if seed % 5 == 0 else email,
            "phone": None if seed % 3 == 0 else f"+216 7{digits[0]} {digits[1:4]} {digits[4:]}0",
            "mobile": None if seed % 4 == 1 else f"+216 9{digits[5]} {digits[:3]} {digits[3:]}",
            "customerReference": f"Ref-{customer_id}",
        }
