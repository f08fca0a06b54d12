"""The simulated Valomnia API behaves like its reference page: login, filters, sorting, paging.

Everything goes over real HTTP with httpx against a running `Simulator`; expected values
are computed from the simulator's own store, so assertions are exact.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatchcase
from typing import Any

import httpx
import pytest

from pipelines.simulator import Simulator

N = 800
APPOINTMENTS = "/api/v1.0/appointments"
LOGIN = {"j_username": "sync@acme.test", "j_password": "valomnia-secret", "ajax": "true"}
FIELDS = [
    "id", "dateCreated", "lastUpdated", "title", "note", "startDate", "endDate", "done",
    "customerId", "customer", "appointmentCategoryId", "appointmentCategory", "employeeId",
    "employee", "contacts",
]  # fmt: skip
DATE_FIELDS = ["dateCreated", "lastUpdated", "startDate", "endDate"]
OPERATORS = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}
SECOND = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


@contextmanager
def login(sim: Simulator) -> Iterator[httpx.Client]:
    """A client holding a fresh session cookie (httpx keeps it from the 302)."""
    with httpx.Client(verify=False, base_url=sim.url) as client:
        response = client.post("/j_spring_security_check", data=LOGIN)
        assert response.status_code == 302
        yield client


def ids_of(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [record["id"] for record in response.json()["data"]]


def ordered(records: list[dict[str, Any]], key: str, descending: bool) -> list[int]:
    """Ids sorted by `key`, ties always by id ascending (the simulator's documented rule)."""
    by_id = sorted(records, key=lambda r: r["id"])
    return [r["id"] for r in sorted(by_id, key=lambda r: r[key], reverse=descending)]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(appointments=N, seed=13) as running:
        yield running


@pytest.fixture(scope="module")
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with login(sim) as logged_in:
        yield logged_in


@pytest.fixture(scope="module")
def records(sim: Simulator) -> list[dict[str, Any]]:
    return list(sim.valomnia.records())


@pytest.fixture
def fresh() -> Iterator[tuple[Simulator, httpx.Client]]:
    """A simulator of its own, for tests that change data."""
    with Simulator(appointments=300, seed=4) as running, login(running) as logged_in:
        yield running, logged_in


# --- login -------------------------------------------------------------------------------


def test_login_redirects_to_ajax_success_with_a_session_cookie(sim: Simulator):
    response = httpx.post(sim.url + "/j_spring_security_check", data=LOGIN)

    assert response.status_code == 302
    assert response.headers["Location"] == "/login/ajaxSuccess"
    cookie = response.headers["Set-Cookie"]
    assert re.fullmatch(r"JSESSIONID=[0-9A-F]{32}; Path=/; HttpOnly", cookie)


def test_ajax_success_returns_the_session_token_and_the_user(sim: Simulator):
    with login(sim) as client:
        body = client.get("/login/ajaxSuccess").json()
        session = client.cookies["JSESSIONID"]

    assert body["success"] is True
    assert body["token"] == session
    assert body["user"]["username"] == "sync@acme.test"


def test_the_session_cookie_authorizes_appointment_requests(sim: Simulator):
    with login(sim) as client:
        session = client.cookies["JSESSIONID"]

    response = httpx.get(sim.url + APPOINTMENTS, headers={"Cookie": f"JSESSIONID={session}"})

    assert response.status_code == 200


def test_wrong_credentials_redirect_to_authfail_which_answers_401(sim: Simulator):
    client = httpx.Client(verify=False, base_url=sim.url)
    response = client.post("/j_spring_security_check", data={**LOGIN, "j_password": "nope"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/login/authfail?ajax=true"
    assert "set-cookie" not in response.headers
    failure = client.get(response.headers["Location"])
    assert failure.status_code == 401
    assert set(failure.json()) == {"error"}


@pytest.mark.parametrize("cookie", [None, "JSESSIONID=0123456789ABCDEF0123456789ABCDEF"])
def test_without_a_valid_session_appointments_redirect_to_the_login_page(
    sim: Simulator, cookie: str | None
):
    headers = {"Cookie": cookie} if cookie else {}

    response = httpx.get(sim.url + APPOINTMENTS, headers=headers)

    assert response.status_code == 302
    assert response.headers["Location"] == "/login/auth"
    assert httpx.get(sim.url + "/login/auth").headers["Content-Type"].startswith("text/html")


def test_without_a_valid_session_appointments_are_401_when_configured():
    with Simulator(appointments=5, session_expiry="401") as sim:
        response = httpx.get(sim.url + APPOINTMENTS)

    assert response.status_code == 401
    assert set(response.json()) == {"error", "error_description"}


def test_expire_sessions_invalidates_every_session_opened_so_far(fresh):
    sim, client = fresh
    assert client.get(APPOINTMENTS).status_code == 200

    sim.expire_sessions()

    assert client.get(APPOINTMENTS).status_code == 302
    client.post("/j_spring_security_check", data=LOGIN)
    assert client.get(APPOINTMENTS).status_code == 200


# --- paging ------------------------------------------------------------------------------


def test_default_page_is_100_records_in_id_order_with_paging(sim: Simulator, client):
    body = client.get(APPOINTMENTS).json()

    assert body["paging"] == {
        "total": N,
        "max": 100,
        "offset": 0,
        "previous": None,
        "next": "/api/v1.0/appointments?max=100&offset=100",
    }
    assert [r["id"] for r in body["data"]] == sim.valomnia.ids()[:100] == list(range(1, 101))


def test_next_links_keep_every_parameter_like_the_reference_example(client):
    body = client.get(APPOINTMENTS, params={"max": 2, "sort": "dateCreated", "order": "asc"})

    assert body.json()["paging"]["next"] == (
        "/api/v1.0/appointments?max=2&offset=2&sort=dateCreated&order=asc"
    )


def test_following_next_walks_every_record_once_and_previous_walks_back(
    client, records: list[dict[str, Any]]
):
    url: str | None = (
        f"{APPOINTMENTS}?max=150&sort=lastUpdated&lastUpdated_gte=2000-01-01T00:00:00Z"
    )
    seen: list[int] = []
    pages = []
    while url:
        page = client.get(url).json()
        pages.append(page)
        seen += [r["id"] for r in page["data"]]
        url = page["paging"]["next"]

    assert seen == ordered(records, "lastUpdated", descending=False)
    assert len(pages) == 6
    assert pages[-1]["paging"]["offset"] == 750
    back = client.get(pages[-1]["paging"]["previous"]).json()
    assert back == pages[-2]
    assert pages[1]["paging"]["previous"] == (
        "/api/v1.0/appointments?max=150&offset=0&sort=lastUpdated"
        "&lastUpdated_gte=2000-01-01T00:00:00Z"
    )


def test_a_max_above_the_limit_is_clamped_and_echoed():
    with Simulator(appointments=30, max_limit=10) as sim, login(sim) as client:
        paging = client.get(APPOINTMENTS, params={"max": 500}).json()["paging"]

    assert paging["max"] == 10
    assert paging["next"] == "/api/v1.0/appointments?max=10&offset=10"


def test_an_unknown_parameter_is_invalid_param_like_the_reference(client):
    response = client.get(APPOINTMENTS, params={"dateCreated_gta": "2016-08-15T14:52:48Z"})

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_param",
        "error_description": (
            "The parameters [dateCreated_gta] you provided are not valid for this request."
        ),
    }


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"max": "ten"}, "max"),
        ({"max": "0"}, "max"),
        ({"offset": "-5"}, "offset"),
        ({"sort": "colour"}, "sort"),
        ({"order": "up"}, "order"),
        ({"page": "2", "limit": "5"}, "page, limit"),
    ],
    ids=["text-max", "zero-max", "negative-offset", "unknown-sort", "unknown-order", "two"],
)
def test_bad_paging_parameters_are_invalid_param(client, params: dict[str, str], named: str):
    response = client.get(APPOINTMENTS, params=params)

    assert response.status_code == 400
    assert response.json()["error_description"] == (
        f"The parameters [{named}] you provided are not valid for this request."
    )


@pytest.mark.parametrize(
    "value",
    [
        "2016-08-1Z",
        "2026-03-01T10:00:00",
        "2026-03-01T10:00:00.000Z",
        "2026-03-01",
        "2026-02-30T00:00:00Z",
    ],
)
def test_a_date_not_in_second_precision_iso_is_invalid_datetime_format(client, value: str):
    response = client.get(APPOINTMENTS, params={"lastUpdated_gte": value})

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_datetime_format",
        "error_description": f"Invalid datetime filter (not ISO-8601 formatted): [{value}]",
    }


# --- filters and sorting -----------------------------------------------------------------


@pytest.mark.parametrize("operator", list(OPERATORS))
@pytest.mark.parametrize("field", DATE_FIELDS)
def test_each_date_filter_keeps_exactly_the_matching_records(
    client, records: list[dict[str, Any]], field: str, operator: str
):
    values = sorted(r[field] for r in records)
    bound = values[len(values) // 2]
    expected = [r["id"] for r in records if OPERATORS[operator](r[field], bound)]

    response = client.get(APPOINTMENTS, params={f"{field}_{operator}": bound, "max": 1000})

    assert ids_of(response) == expected
    assert response.json()["paging"]["total"] == len(expected)


def test_date_filters_combine(client, records: list[dict[str, Any]]):
    low, high = "2025-01-01T00:00:00Z", "2025-09-01T00:00:00Z"
    expected = [r for r in records if low <= r["lastUpdated"] < high and r["startDate"] > low]
    params = {"lastUpdated_gte": low, "lastUpdated_lt": high, "startDate_gt": low, "max": 1000}

    assert ids_of(client.get(APPOINTMENTS, params=params)) == [r["id"] for r in expected]
    assert expected


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("title", "Price*"),
        ("title", "*tion"),
        ("title", "*ise*"),
        ("title", "Livraison"),
        ("title", "Price"),
        ("customerReference", "Ref-1*"),
        ("customerReference", "*7"),
        ("employeeReference", "EMP-00*"),
    ],
    ids=str,
)
def test_wildcard_filters_match_with_star_and_exactly_without(
    client, records: list[dict[str, Any]], name: str, pattern: str
):
    def value(record: dict[str, Any]) -> str | None:
        if name == "title":
            return record["title"]
        owner = record["customer" if name == "customerReference" else "employee"]
        return owner["reference"] if owner else None

    expected = [r["id"] for r in records if value(r) and fnmatchcase(value(r), pattern)]

    response = client.get(APPOINTMENTS, params={name: pattern, "max": 1000})

    assert ids_of(response) == expected
    assert (pattern == "Price") == (expected == [])


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(
    "sort", ["id", "dateCreated", "lastUpdated", "title", "startDate", "endDate"]
)
def test_sort_and_order_break_ties_by_id_ascending(
    client, records: list[dict[str, Any]], sort: str, order: str
):
    response = client.get(APPOINTMENTS, params={"sort": sort, "order": order, "max": 1000})

    assert ids_of(response) == ordered(records, sort, order == "desc")


def test_sorting_a_filtered_list_pages_consistently(client, records: list[dict[str, Any]]):
    matching = [r for r in records if r["title"].startswith("P")]
    expected = ordered(matching, "startDate", descending=True)
    params = {"title": "P*", "sort": "startDate", "order": "desc", "max": 7}

    got = []
    for offset in range(0, len(expected) + 7, 7):
        got += ids_of(client.get(APPOINTMENTS, params={**params, "offset": offset}))

    assert got == expected


# --- data --------------------------------------------------------------------------------


def test_records_have_the_reference_fields_plus_employee(records: list[dict[str, Any]]):
    for record in records:
        assert list(record) == FIELDS
        assert record["customerId"] == (record["customer"] or {}).get("id")
        assert record["appointmentCategoryId"] == (record["appointmentCategory"] or {}).get("id")
        assert record["employeeId"] == record["employee"]["id"]
        assert set(record["employee"]) == {"id", "reference", "name", "href"}
        assert record["employee"]["href"] == f"/api/v1.0/employees/{record['employeeId']}"
        assert 0 <= len(record["contacts"]) <= 3
        for contact in record["contacts"]:
            assert list(contact) == [
                "id", "firstName", "lastName", "email", "phone", "mobile", "customerReference",
            ]  # fmt: skip
            assert contact["customerReference"] == record["customer"]["reference"]
        for field in DATE_FIELDS:
            assert SECOND.fullmatch(record[field])
        assert record["dateCreated"] <= record["lastUpdated"]
        assert record["startDate"] <= record["endDate"]


def test_customers_categories_and_notes_are_sometimes_null(records: list[dict[str, Any]]):
    for key in ("customer", "appointmentCategory", "note"):
        values = [r[key] for r in records]
        assert None in values and any(v is not None for v in values), key
    assert {len(r["contacts"]) for r in records} == {0, 1, 2, 3}


def test_some_raw_records_repeat_appointment_category_id_with_a_stale_value_first(client):
    raw = client.get(APPOINTMENTS, params={"max": 1000}).content
    pairs = json.loads(raw, object_pairs_hook=list)
    data = dict(pairs)["data"]

    repeated = []
    for record in data:
        values = [value for key, value in record if key == "appointmentCategoryId"]
        if len(values) == 2:
            category = dict(dict(record)["appointmentCategory"])
            repeated.append(values)
            assert values[0] != values[1] == category["id"]
    assert 0 < len(repeated) < len(data) / 10


def test_base_last_updated_is_non_decreasing_in_id_order_and_before_the_clock(
    sim: Simulator, records: list[dict[str, Any]]
):
    stamps = [r["lastUpdated"] for r in records]

    assert stamps == sorted(stamps)
    assert stamps[-1] < "2026-03-01T10:00:00Z" == sim.valomnia.clock.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(stamps) / len(set(stamps)) > 3


def test_a_burst_of_more_than_300_rows_shares_one_second():
    with Simulator(appointments=2000, seed=9) as sim, login(sim) as client:
        stamps = Counter(r["lastUpdated"] for r in sim.valomnia.records())
        second, size = stamps.most_common(1)[0]
        params = {"sort": "lastUpdated", "lastUpdated_gte": second, "lastUpdated_lte": second}
        paging = client.get(APPOINTMENTS, params=params).json()["paging"]

    assert size >= 300
    assert paging["total"] == size
    assert paging["next"] is not None


def test_the_same_seed_serves_identical_bytes_and_another_seed_does_not():
    def page(seed: int) -> bytes:
        with Simulator(appointments=150, seed=seed) as sim, login(sim) as client:
            return client.get(APPOINTMENTS, params={"max": 150}).content

    assert page(8) == page(8)
    assert page(8) != page(9)


# --- changes -----------------------------------------------------------------------------


def test_update_moves_a_row_to_the_end_of_last_updated_order(fresh):
    sim, client = fresh
    before = sim.valomnia.get(5)

    sim.valomnia.update([5])

    record = sim.valomnia.get(5)
    assert record["lastUpdated"] == "2026-03-01T10:00:00Z"
    assert record["note"] == "Revision 1"
    assert record["done"] is not before["done"]
    last = client.get(APPOINTMENTS, params={"sort": "lastUpdated", "offset": 299, "max": 1})
    assert ids_of(last) == [5]
    assert sim.valomnia.ids() == list(range(1, 301))  # id order is unchanged


def test_rows_updated_in_one_second_tie_and_page_by_id_in_both_orders(fresh):
    sim, client = fresh
    sim.valomnia.update([30, 10])
    sim.valomnia.update([20])

    since = {"sort": "lastUpdated", "lastUpdated_gte": "2026-03-01T10:00:00Z"}
    assert ids_of(client.get(APPOINTMENTS, params=since)) == [10, 20, 30]
    assert ids_of(client.get(APPOINTMENTS, params={**since, "order": "desc"})) == [10, 20, 30]
    desc = client.get(APPOINTMENTS, params={"sort": "lastUpdated", "order": "desc", "max": 9})
    expected = ordered(list(sim.valomnia.records()), "lastUpdated", descending=True)
    assert ids_of(desc) == expected[:9]
    assert expected[:3] == [10, 20, 30]


def test_a_later_tick_orders_a_row_after_earlier_updates(fresh):
    sim, client = fresh
    sim.valomnia.update([7])
    sim.valomnia.tick(0.4)
    sim.valomnia.update([3])  # same whole second: Valomnia timestamps have no fraction
    sim.valomnia.tick(1)
    sim.valomnia.update([1])

    since = {"sort": "lastUpdated", "lastUpdated_gte": "2026-03-01T10:00:00Z"}
    assert ids_of(client.get(APPOINTMENTS, params=since)) == [3, 7, 1]
    assert sim.valomnia.get(1)["lastUpdated"] == "2026-03-01T10:00:01Z"


def test_field_overrides_persist_across_updates(fresh):
    sim, client = fresh
    sim.valomnia.update([9], contacts=[], title="Inventaire")
    sim.valomnia.update([9])

    [record] = client.get(APPOINTMENTS, params={"title": "Inventaire"}).json()["data"]
    assert record["id"] == 9
    assert record["contacts"] == []
    assert record["note"] == "Revision 2"


def test_inserted_rows_get_ids_above_the_max_and_sort_last(fresh):
    sim, client = fresh
    sim.valomnia.delete([300])

    new = sim.valomnia.insert(3)

    assert new == [301, 302, 303]
    assert sim.valomnia.ids()[-3:] == new
    assert sim.valomnia.count() == 302
    by_update = client.get(APPOINTMENTS, params={"sort": "lastUpdated", "offset": 299})
    assert ids_of(by_update) == new
    for ident in new:
        record = sim.valomnia.get(ident)
        assert record["dateCreated"] == record["lastUpdated"] == "2026-03-01T10:00:00Z"


def test_deleted_rows_vanish_from_every_list(fresh):
    sim, client = fresh

    sim.valomnia.delete([2, 4, 6])

    assert ids_of(client.get(APPOINTMENTS, params={"max": 5})) == [1, 3, 5, 7, 8]
    by_update = client.get(APPOINTMENTS, params={"sort": "lastUpdated", "max": 5})
    assert ids_of(by_update) == [1, 3, 5, 7, 8]
    assert client.get(APPOINTMENTS).json()["paging"]["total"] == 297
    with pytest.raises(KeyError):
        sim.valomnia.get(4)


def test_a_million_appointments_page_by_id_and_by_last_updated_bound():
    with Simulator(valomnia_appointments=1_000_000, pexip_appointments=10, seed=2) as sim:
        sim.valomnia.update([999_999, 17])
        with login(sim) as client:
            late = client.get(APPOINTMENTS, params={"offset": 999_900, "max": 100})
            changed = client.get(
                APPOINTMENTS,
                params={"sort": "lastUpdated", "lastUpdated_gte": "2026-03-01T10:00:00Z"},
            )

    assert ids_of(late) == list(range(999_901, 1_000_001))
    assert ids_of(changed) == [17, 999_999]
    assert changed.json()["paging"]["total"] == 2


def test_random_changes_keep_last_updated_order_exact_in_both_directions(fresh):
    sim, client = fresh
    store = sim.valomnia
    rng = random.Random(1)
    for _ in range(30):
        current = store.ids()
        roll = rng.random()
        if roll < 0.4:
            store.update(rng.sample(current, rng.randint(1, 25)))
        elif roll < 0.5:
            year = rng.randint(2020, 2030)
            store.update(rng.sample(current, 1), lastUpdated=f"{year}-01-01T00:00:00Z")
        elif roll < 0.65:
            store.insert(rng.randint(1, 20))
        elif roll < 0.8:
            store.delete(rng.sample(current, rng.randint(1, 20)))
        else:
            store.tick(rng.random() * 3)
        records = list(store.records())
        for order in ("asc", "desc"):
            params = {"sort": "lastUpdated", "order": order, "max": 1000}
            got = ids_of(client.get(APPOINTMENTS, params=params))
            assert got == ordered(records, "lastUpdated", order == "desc")
