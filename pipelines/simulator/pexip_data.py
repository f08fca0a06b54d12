"""Pexip Engage appointments generated from (seed, index).

Why index-addressed: the store asks for a record only when serving or filtering it, so a
1,000,000-appointment simulator never holds them all; ids decode back to indexes in O(1).
"""

from __future__ import annotations

from random import Random

from . import vocab
from .data import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Record,
    below,
    between,
    choice,
    iso_ms,
    pick,
    weighted,
)

_STATUSES = weighted(vocab.PEXIP_STATUSES)
_MEETING_TYPES = weighted(vocab.PEXIP_MEETING_TYPES)
_FORM_BY_ANSWER_TYPE = dict(zip(vocab.PEXIP_ANSWER_TYPES, vocab.PEXIP_FORMS, strict=False))


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
        status = pick(r, _STATUSES)
        meeting_type = pick(r, _MEETING_TYPES)
        if fresh or r.random() < 0.3:
            created_ms = updated_ms
        else:
            created_ms = updated_ms - between(r, MINUTE_MS, 40 * DAY_MS)
        start, end = self._times(r, status, created_ms, updated_ms)
        office = below(r, len(vocab.PEXIP_OFFICES))
        employee = vocab.PEXIP_EMPLOYEES[below(r, len(vocab.PEXIP_EMPLOYEES))]
        customer = str(vocab.PEXIP_CUSTOMER_ID_BASE + below(r, self._customers))
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
            "subject": {"id": vocab.PEXIP_SUBJECTS[below(r, len(vocab.PEXIP_SUBJECTS))]},
            "office": {"id": vocab.PEXIP_OFFICES[office]},
            "appointmentParticipants": self._participants(r, meeting_type, employee, customer),
            "answers": self._answers(r, index, created_ms, updated_ms),
            "callbackRequest": {"id": str(600_000 + below(r, 90_000))}
            if r.random() < 0.15
            else None,
            "listing": {"id": choice(r, vocab.PEXIP_LISTINGS)} if r.random() < 0.15 else None,
            "leadSegment": {"id": choice(r, vocab.PEXIP_LEAD_SEGMENTS)}
            if r.random() < 0.4
            else None,
            "meetingRoom": {"id": choice(r, vocab.PEXIP_MEETING_ROOMS)}
            if meeting_type == "OFFICE" and r.random() < 0.5
            else None,
            "meetingType": meeting_type,
            "status": status,
            "hybrid": meeting_type == "OFFICE" and r.random() < 0.15,
            "trailingBufferTime": choice(r, vocab.PEXIP_TRAILING_BUFFERS),
            "internalNotes": choice(r, vocab.PEXIP_INTERNAL_NOTES) if r.random() < 0.4 else None,
            "messageForCustomer": choice(r, vocab.PEXIP_MESSAGES) if r.random() < 0.3 else None,
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
            start = updated_ms - between(r, HOUR_MS, 5 * DAY_MS)
        else:
            start = created_ms + between(r, HOUR_MS, 45 * DAY_MS)
        start -= start % (15 * MINUTE_MS)
        end = start + choice(r, vocab.PEXIP_DURATIONS_MIN) * MINUTE_MS
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
            colleague = vocab.PEXIP_EMPLOYEES[below(r, len(vocab.PEXIP_EMPLOYEES))]
            people.append(participant("SECONDARY", "EMPLOYEE", colleague))
        if r.random() < 0.1:
            partner = str(vocab.PEXIP_CUSTOMER_ID_BASE + below(r, self._customers))
            people.append(participant("SECONDARY", "CUSTOMER", partner))
        if r.random() < 0.2:
            people.reverse()
        return people

    @staticmethod
    def _answers(r: Random, index: int, created_ms: int, updated_ms: int) -> list[Record]:
        answers: list[Record] = []
        for position in range(choice(r, (0, 0, 0, 1, 1, 2, 2, 3, 4, 5, 6))):
            question = choice(r, vocab.PEXIP_QUESTIONS)
            answer_created = created_ms + int(r.random() * (updated_ms - created_ms))
            answer_updated = answer_created
            if r.random() < 0.3:
                answer_updated += int(r.random() * (updated_ms - answer_created))
            value: str | None = None
            options: list[Record] | None = None
            files: list[Record] | None = None
            if question.kind == "text":
                value = choice(r, question.values)
            elif question.kind == "choice":
                options = [{"id": choice(r, question.options)}]
            elif question.kind == "multi":
                picked = r.sample(question.options, below(r, 4))
                options = [{"id": option} for option in picked]
            else:
                files = [
                    {"id": str(9_000_000_000 + index * 16 + position * 2 + k)}
                    for k in range(below(r, 3))
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
        return self._address(r, choice(r, vocab.PEXIP_LOCALES))

    @staticmethod
    def _address(r: Random, locale: vocab.Locale) -> Record:
        city = choice(r, locale.cities)
        language = locale.language

        def text(value: str, null_rate: float) -> Record | None:
            return None if r.random() < null_rate else {"language": language, "value": value}

        street = f"{choice(r, locale.streets)} {between(r, 1, 241)}"
        street2 = choice(r, locale.street2) if r.random() < 0.2 else None
        postal = None if r.random() < 0.1 else f"{city.postal}{between(r, 100, 1000)}"
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
