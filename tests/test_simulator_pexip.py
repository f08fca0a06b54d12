"""The simulated Pexip Engage API behaves like the spec: auth, filters, paging, data, changes.

Everything goes over real HTTP with httpx against a running `Simulator`; expected values
are computed from the simulator's own store, so assertions are exact.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from pipelines.simulator import Simulator

N = 600
APPOINTMENTS = "/enterprises/acme/appointments"
TOKEN = "/realms/acme/protocol/openid-connect/token"
CREDENTIALS = {
    "grant_type": "client_credentials",
    "client_id": "apptsync",
    "client_secret": "pexip-secret",
}
SPEC_FIELDS = [
    "id", "externalId", "start", "end", "subject", "office", "appointmentParticipants",
    "answers", "callbackRequest", "listing", "leadSegment", "meetingRoom", "meetingType",
    "status", "hybrid", "trailingBufferTime", "internalNotes", "messageForCustomer",
    "createdAt", "createdBy", "createdByType", "createdFrom", "updatedAt", "updatedBy",
    "updatedByType", "updatedFrom", "location",
]  # fmt: skip
STATUSES = {
    "ACCEPTED", "ALTERNATIVE_DATE_REQUESTED", "CANCELLED", "COMPLETED", "INCOMING_REQUEST",
    "NO_SHOW", "OUTGOING_INVITE",
}  # fmt: skip
NULLABLE = (
    "externalId", "start", "end", "callbackRequest", "listing", "leadSegment", "meetingRoom",
    "internalNotes", "messageForCustomer", "createdBy", "updatedBy", "location",
)  # fmt: skip
LANGUAGES = {"da", "de", "el", "en", "es", "fr", "ja", "nl", "no", "pl"}


def get_token(client: httpx.Client) -> str:
    response = client.post(TOKEN, data=CREDENTIALS)
    assert response.status_code == 200
    return response.json()["access_token"]


class Api:
    """A bearer-authenticated client for the simulated Pexip API."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.http = httpx.Client(verify=False, base_url=sim.url)
        self.token = get_token(self.http)

    def get(self, params: Any = None, **headers: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **headers}
        return self.http.get(APPOINTMENTS, params=params, headers=headers)

    def ids(self, params: Any = None) -> list[str]:
        response = self.get(params)
        assert response.status_code == 200, response.text
        return [record["id"] for record in response.json()["data"]]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(appointments=N, seed=11) as running:
        yield running


@pytest.fixture(scope="module")
def api(sim: Simulator) -> Iterator[Api]:
    client = Api(sim)
    yield client
    client.http.close()


@pytest.fixture
def fresh() -> Iterator[Api]:
    """A simulator of its own, for tests that change data."""
    with Simulator(appointments=200, seed=3) as running:
        client = Api(running)
        yield client
        client.http.close()


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- auth --------------------------------------------------------------------------------


def test_client_credentials_grant_returns_a_bearer_token(sim: Simulator):
    body = httpx.post(sim.url + TOKEN, data=CREDENTIALS).json()

    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "engage:appointments:readOnly"
    assert len(body["access_token"]) > 20


def test_client_secret_in_a_basic_header_is_accepted(sim: Simulator):
    response = httpx.post(
        sim.url + TOKEN,
        data={"grant_type": "client_credentials"},
        auth=("apptsync", "pexip-secret"),
    )

    assert response.status_code == 200


def test_wrong_client_secret_is_401_unauthorized_client(sim: Simulator):
    response = httpx.post(sim.url + TOKEN, data={**CREDENTIALS, "client_secret": "nope"})

    assert response.status_code == 401
    assert response.json() == {
        "error": "unauthorized_client",
        "error_description": "Invalid client or Invalid client credentials",
    }


def test_other_grant_type_is_400_unsupported_grant_type(sim: Simulator):
    response = httpx.post(sim.url + TOKEN, data={**CREDENTIALS, "grant_type": "password"})

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_unknown_realm_is_404(sim: Simulator):
    response = httpx.post(sim.url + "/realms/other/protocol/openid-connect/token", data=CREDENTIALS)

    assert response.status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-token", "Basic YXBwdHN5bmM6cGV4aXAtc2VjcmV0"],
    ids=["missing", "invalid", "wrong-scheme"],
)
def test_requests_without_a_valid_token_are_401_in_pexip_error_format(
    sim: Simulator, authorization: str | None
):
    headers = {"Authorization": authorization} if authorization else {}

    response = httpx.get(sim.url + APPOINTMENTS, headers=headers)

    assert response.status_code == 401
    [error] = response.json()["errors"]
    assert error["statusCode"] == 401
    assert set(error) == {"message", "code", "type", "statusCode"}


def test_a_token_is_rejected_after_its_lifetime():
    with Simulator(appointments=10, token_ttl_seconds=0.3) as sim:
        api = Api(sim)
        assert api.get().status_code == 200

        time.sleep(0.4)

        assert api.get().status_code == 401
        api.token = get_token(api.http)
        assert api.get().status_code == 200


def test_expire_tokens_invalidates_every_token_issued_so_far(fresh: Api):
    fresh.sim.expire_tokens()

    assert fresh.get().status_code == 401
    fresh.token = get_token(fresh.http)
    assert fresh.get().status_code == 200


def test_unknown_enterprise_is_404_in_pexip_error_format(api: Api):
    response = api.http.get(
        "/enterprises/other/appointments", headers={"Authorization": f"Bearer {api.token}"}
    )

    assert response.status_code == 404
    assert response.json()["errors"][0]["statusCode"] == 404


def test_the_correlation_id_is_echoed(api: Api):
    response = api.get(**{"X-Correlation-Id": "a4f0048e-c983-11ed-afa1-0242ac120002"})

    assert response.headers["X-Correlation-Id"] == "a4f0048e-c983-11ed-afa1-0242ac120002"


# --- paging ------------------------------------------------------------------------------


def test_default_page_is_the_first_25_records_with_meta(sim: Simulator, api: Api):
    body = api.get().json()

    assert body["meta"] == {"offset": 0, "limit": 25, "totalCount": N}
    assert [record["id"] for record in body["data"]] == sim.pexip.ids()[:25]


def test_offset_and_limit_walk_every_record_once_in_natural_order(sim: Simulator, api: Api):
    seen: list[str] = []
    for offset in range(0, N, 70):
        body = api.get({"offset": offset, "limit": 70}).json()
        assert body["meta"] == {"offset": offset, "limit": 70, "totalCount": N}
        seen += [record["id"] for record in body["data"]]

    assert seen == sim.pexip.ids()
    assert len(set(seen)) == N


def test_a_limit_above_the_maximum_is_clamped_and_echoed():
    with Simulator(appointments=50, max_limit=20) as sim:
        body = Api(sim).get({"limit": 500}).json()

    assert body["meta"] == {"offset": 0, "limit": 20, "totalCount": 50}
    assert len(body["data"]) == 20


def test_an_offset_past_the_end_is_an_empty_page(api: Api):
    body = api.get({"offset": N + 5}).json()

    assert body == {"data": [], "meta": {"offset": N + 5, "limit": 25, "totalCount": N}}


@pytest.mark.parametrize(
    "params",
    [{"offset": "-1"}, {"offset": "ten"}, {"limit": "0"}, {"limit": "2.5"}, {"limit": ""}],
    ids=["negative-offset", "text-offset", "zero-limit", "fraction-limit", "empty-limit"],
)
def test_bad_offset_or_limit_is_400(api: Api, params: dict[str, str]):
    response = api.get(params)

    assert response.status_code == 400
    assert response.json()["errors"][0]["arguments"] == {"parameter": next(iter(params))}


def test_an_unknown_parameter_is_400_naming_it(api: Api):
    response = api.get({"sort": "updatedAt"})

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["statusCode"] == 400
    assert "sort" in error["message"]


# --- filters -----------------------------------------------------------------------------

SCALAR_FILTERS: dict[str, tuple[str, str | None]] = {
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
PARTICIPANT_FILTERS = {"customer-id": "CUSTOMER", "employee-id": "EMPLOYEE"}
FILTERS = [*SCALAR_FILTERS, *PARTICIPANT_FILTERS]


def values_of(name: str, record: dict[str, Any]) -> list[str]:
    """What a filter compares: the record's value(s) for that filter."""
    if name in PARTICIPANT_FILTERS:
        return [
            p["participant"]["id"]
            for p in record["appointmentParticipants"]
            if p["type"] == PARTICIPANT_FILTERS[name]
        ]
    key, inner = SCALAR_FILTERS[name]
    value = record[key]
    if inner is not None:
        value = value and value[inner]
    return [value] if value else []


@pytest.mark.parametrize("name", FILTERS)
def test_each_array_filter_returns_exactly_the_matching_records(
    sim: Simulator, api: Api, name: str
):
    records = list(sim.pexip.records())
    wanted: list[str] = []
    for record in records[::7]:
        wanted += [v for v in values_of(name, record) if v not in wanted]
    wanted = wanted[:2]
    expected = [r["id"] for r in records if set(values_of(name, r)) & set(wanted)]

    body = api.get({f"{name}[]": wanted, "limit": 1000}).json()

    assert [record["id"] for record in body["data"]] == expected
    assert body["meta"]["totalCount"] == len(expected)
    assert 0 < len(expected) < N


def test_filters_combine_with_and_and_page_like_the_full_list(sim: Simulator, api: Api):
    records = list(sim.pexip.records())
    expected = [
        r["id"]
        for r in records
        if r["status"] in ("ACCEPTED", "COMPLETED") and r["meetingType"] == "VIDEO"
    ]
    params = {"status[]": ["ACCEPTED", "COMPLETED"], "meeting-type[]": "VIDEO", "limit": 10}

    pages = [api.get({**params, "offset": offset}).json() for offset in range(0, 200, 10)]

    assert [r["id"] for page in pages for r in page["data"]] == expected
    assert {page["meta"]["totalCount"] for page in pages} == {len(expected)}


@pytest.mark.parametrize("name", FILTERS)
def test_plain_syntax_for_an_array_filter_is_400_naming_the_parameter(api: Api, name: str):
    response = api.get({name: "OFFICE" if name == "meeting-type" else "ACCEPTED"})

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["arguments"] == {"parameter": name}
    assert f"{name}[]" in error["message"]


@pytest.mark.parametrize(
    ("name", "value"), [("meeting-type", "TELEPATHY"), ("status", "DONE")], ids=str
)
def test_an_unknown_enum_value_is_400(api: Api, name: str, value: str):
    response = api.get({f"{name}[]": ["ACCEPTED", value]})

    assert response.status_code == 400
    assert response.json()["errors"][0]["arguments"] == {"parameter": name}


def test_from_keeps_starts_at_or_after_and_to_keeps_ends_at_or_before(sim: Simulator, api: Api):
    records = list(sim.pexip.records())
    starts = sorted(parse(r["start"]) for r in records if r["start"])
    low, high = starts[len(starts) // 4], starts[3 * len(starts) // 4]
    expected = [
        r["id"]
        for r in records
        if r["start"] and r["end"] and parse(r["start"]) >= low and parse(r["end"]) <= high
    ]

    params = {"from": low.isoformat(), "to": high.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
    body = api.get({**params, "limit": 1000}).json()

    assert [r["id"] for r in body["data"]] == expected
    assert 0 < len(expected) < N


def test_rows_without_start_are_excluded_by_from(sim: Simulator, api: Api):
    without_start = {r["id"] for r in sim.pexip.records() if r["start"] is None}

    ids = api.ids({"from": "2000-01-01T00:00:00Z", "limit": 1000})

    assert without_start
    assert not without_start & set(ids)
    assert len(ids) == N - len(without_start)


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01T00:00:00Z", "2026-03-01", ""])
def test_a_bad_from_or_to_is_400(api: Api, value: str):
    assert api.get({"from": value}).status_code == 400
    assert api.get({"to": value}).status_code == 400


# --- data --------------------------------------------------------------------------------


def test_every_record_carries_every_spec_field_in_spec_order(sim: Simulator):
    for record in sim.pexip.records():
        assert list(record) == SPEC_FIELDS


def test_participants_have_a_primary_employee_and_a_primary_customer(sim: Simulator):
    for record in sim.pexip.records():
        people = record["appointmentParticipants"]
        assert 2 <= len(people) <= 4
        roles = {(p["role"], p["type"]) for p in people}
        assert {("PRIMARY", "EMPLOYEE"), ("PRIMARY", "CUSTOMER")} <= roles
        for person in people:
            assert set(person) == {"role", "participant", "type", "videoUrl", "videoTestUrl"}
            assert person["participant"]["id"]


def test_answers_follow_the_spec_shape(sim: Simulator):
    counts = Counter()
    for record in sim.pexip.records():
        assert 0 <= len(record["answers"]) <= 6
        counts[len(record["answers"])] += 1
        for answer in record["answers"]:
            assert list(answer) == [
                "value", "selectedAnswerOptions", "files", "id", "form", "question",
                "answerType", "createdAt", "updatedAt",
            ]  # fmt: skip
            assert (
                answer["selectedAnswerOptions"] is None or len(answer["selectedAnswerOptions"]) <= 3
            )
            assert answer["files"] is None or len(answer["files"]) <= 2
            assert answer["createdAt"] <= answer["updatedAt"] <= record["updatedAt"]
    assert set(counts) == set(range(7))


def test_locations_are_multilingual_and_complete(sim: Simulator):
    locations = [r["location"] for r in sim.pexip.records() if r["location"]]
    languages = {
        part["language"]
        for location in locations
        for part in (location["city"], location["state"], location["street1"])
        if part
    }

    assert languages == LANGUAGES
    for location in locations:
        assert set(location) == {
            "city", "state", "street1", "street2", "postalCode", "countryCode",
            "formattedAddress", "geolocation",
        }  # fmt: skip
        assert len(location["countryCode"]) == 2
        assert -90 <= location["geolocation"]["latitude"] <= 90
        assert -180 <= location["geolocation"]["longitude"] <= 180


def test_statuses_meeting_types_and_nulls_are_a_realistic_mix(sim: Simulator):
    records = list(sim.pexip.records())

    assert {r["status"] for r in records} == STATUSES
    assert {r["meetingType"] for r in records} == {"OFFICE", "ON_LOCATION", "PHONE", "VIDEO"}
    for nullable in NULLABLE:
        values = [r[nullable] for r in records]
        assert None in values and any(v is not None for v in values), nullable
    phone_or_video = [r for r in records if r["meetingType"] in ("PHONE", "VIDEO")]
    assert sum(r["location"] is None for r in phone_or_video) > 0.8 * len(phone_or_video)


def test_base_updated_at_is_non_decreasing_with_ties_and_before_the_clock(sim: Simulator):
    stamps = [r["updatedAt"] for r in sim.pexip.records()]
    clock = sim.pexip.clock

    assert stamps == sorted(stamps)
    assert parse(stamps[-1]) < clock
    assert len(stamps) / len(set(stamps)) > 3  # about ties_per_second rows share a value
    assert all(len(s) == 24 and s.endswith("Z") for s in stamps)


def test_the_same_seed_serves_identical_bytes_and_another_seed_does_not():
    def first_page(seed: int) -> bytes:
        with Simulator(appointments=120, seed=seed) as sim:
            return Api(sim).get({"limit": 120}).content

    assert first_page(5) == first_page(5)
    assert first_page(5) != first_page(6)


# --- changes -----------------------------------------------------------------------------


def test_update_stamps_the_clock_keeps_the_position_and_changes_internal_notes(fresh: Api):
    store = fresh.sim.pexip
    before = store.ids()
    target = before[10]
    old = store.get(target)

    store.update([target])

    record = store.get(target)
    assert store.ids() == before
    assert record["updatedAt"] == "2026-03-01T10:00:00.000Z"
    assert parse(record["updatedAt"]) == store.clock
    assert record["internalNotes"] == "Revision 1" != old["internalNotes"]
    assert fresh.ids({"offset": 10, "limit": 1}) == [target]
    assert fresh.get({"offset": 10, "limit": 1}).json()["data"][0] == record


def test_updates_in_one_clock_value_share_a_timestamp_and_tick_moves_it(fresh: Api):
    store = fresh.sim.pexip
    a, b, c = store.ids()[:3]

    store.update([a])
    store.update([b])
    store.tick(1.5)
    store.update([c])

    assert store.get(a)["updatedAt"] == store.get(b)["updatedAt"] == "2026-03-01T10:00:00.000Z"
    assert store.get(c)["updatedAt"] == "2026-03-01T10:00:01.500Z"
    assert store.clock == datetime(2026, 3, 1, 10, 0, 1, 500000, tzinfo=UTC)


def test_field_overrides_persist_across_updates_and_drop_removes_keys(fresh: Api):
    store = fresh.sim.pexip
    a, b = store.ids()[:2]

    store.update([a], answers=[], updatedAt="not-a-date", channelScore=7)
    store.update([a])
    store.update([b], drop=("id",))

    record = store.get(a)
    assert record["answers"] == []
    assert record["updatedAt"] == "not-a-date"
    assert record["channelScore"] == 7
    assert record["internalNotes"] == "Revision 2"
    served = fresh.get({"limit": 2}).json()["data"]
    assert served[0] == record
    assert "id" not in served[1]
    assert list(served[1]) == SPEC_FIELDS[1:]


def test_insert_lands_at_random_positions_and_shifts_offsets(fresh: Api):
    store = fresh.sim.pexip
    before = store.ids()

    new = store.insert(5)

    after = store.ids()
    assert len(after) == len(before) + 5 == store.count()
    assert [i for i in after if i not in new] == before
    assert sorted(after.index(i) for i in new) != list(range(len(before), len(after)))
    assert fresh.get().json()["meta"]["totalCount"] == len(after)
    assert fresh.ids({"limit": 1000}) == after
    for ident in new:
        assert store.get(ident)["createdAt"] == store.get(ident)["updatedAt"]
        assert parse(store.get(ident)["updatedAt"]) == store.clock


def test_delete_removes_records_from_lists_counts_and_get(fresh: Api):
    store = fresh.sim.pexip
    gone = store.ids()[3:9]

    store.delete(gone)

    assert store.count() == 194
    assert not set(gone) & set(fresh.ids({"limit": 1000}))
    assert fresh.get().json()["meta"]["totalCount"] == 194
    with pytest.raises(KeyError):
        store.get(gone[0])
    assert fresh.get({"id[]": gone}).json()["data"] == []


def test_a_million_appointments_start_quickly_and_serve_first_and_late_pages():
    with Simulator(appointments=1_000_000, seed=1) as sim:
        api = Api(sim)
        first = api.get({"limit": 100}).json()
        late = api.get({"offset": 999_900, "limit": 100}).json()
        ids = sim.pexip.ids()

    assert first["meta"]["totalCount"] == 1_000_000
    assert [r["id"] for r in first["data"]] == ids[:100]
    assert [r["id"] for r in late["data"]] == ids[-100:]
    assert first["data"][-1]["updatedAt"] <= late["data"][0]["updatedAt"]
