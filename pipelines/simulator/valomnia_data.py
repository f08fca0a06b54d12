"""Valomnia appointments generated from (seed, index): ids are index + 1.

Why pure functions of ids for customers, employees and contacts: the same customer then
looks the same in every appointment that mentions it, without a table of customers.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from random import Random

from . import vocab
from .data import Record, below, between, choice, iso_s


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
        age = 0 if fresh or r.random() < 0.4 else between(r, 60, 30 * 86_400)
        created = updated_s - age
        start = created if r.random() < 0.05 else created + between(r, 0, 45 * 86_400)
        start += -start % 300  # round up to 5 minutes: never before dateCreated
        end = start + choice(r, (0, 900, 1800, 3600, 3600, 5400, 7200))
        customer_id = None if r.random() < 0.12 else 1 + below(r, self._customers)
        category = None if r.random() < 0.1 else choice(r, vocab.VALOMNIA_CATEGORIES)
        employee_id = 1 + below(r, vocab.VALOMNIA_EMPLOYEE_COUNT)
        contacts: list[Record] = []
        if customer_id is not None and r.random() < 0.6:
            picks = sorted(r.sample(range(4), between(r, 1, 4)))
            contacts = [self.contact(customer_id, slot) for slot in picks]
        return {
            "id": index + 1,
            "dateCreated": iso_s(created),
            "lastUpdated": iso_s(updated_s),
            "title": choice(r, vocab.VALOMNIA_TITLES),
            "note": choice(r, vocab.VALOMNIA_NOTES) if r.random() < 0.3 else None,
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
