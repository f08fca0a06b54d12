"""Faults, hooks, accounting and admin routes of the simulator, over real HTTP.

Faults only ever hit the appointments endpoints; each kind is asserted on the wire exactly
as a sync would see it.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import orjson
import pytest

from pipelines.simulator import Simulator

PEXIP = "/enterprises/acme/appointments"
VALOMNIA = "/api/v1.0/appointments"
TOKEN = "/realms/acme/protocol/openid-connect/token"
CREDENTIALS = {
    "grant_type": "client_credentials",
    "client_id": "apptsync",
    "client_secret": "pexip-secret",
}
LOGIN = {"j_username": "sync@acme.test", "j_password": "valomnia-secret", "ajax": "true"}


class Clients:
    """One authenticated client per API against one simulator."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.pexip = httpx.Client(verify=False, base_url=sim.url)
        token = self.pexip.post(TOKEN, data=CREDENTIALS).json()["access_token"]
        self.pexip.headers["Authorization"] = f"Bearer {token}"
        self.valomnia = httpx.Client(verify=False, base_url=sim.url)
        assert self.valomnia.post("/j_spring_security_check", data=LOGIN).status_code == 302

    def get(self, api: str, **params: object) -> httpx.Response:
        client = self.pexip if api == "pexip" else self.valomnia
        return client.get(PEXIP if api == "pexip" else VALOMNIA, params=params)

    def close(self) -> None:
        self.pexip.close()
        self.valomnia.close()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(appointments=120, seed=21) as running:
        yield running


@pytest.fixture
def clients(sim: Simulator) -> Iterator[Clients]:
    both = Clients(sim)
    yield both
    both.close()


# --- error statuses ----------------------------------------------------------------------


def test_a_scripted_429_with_retry_after_sends_the_header(sim: Simulator, clients: Clients):
    sim.faults("pexip").script((429, 2))

    response = clients.get("pexip")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json()["errors"][0]["statusCode"] == 429
    assert clients.get("pexip").status_code == 200


def test_a_scripted_429_without_retry_after_has_no_header(sim: Simulator, clients: Clients):
    sim.faults("valomnia").script(429)

    response = clients.get("valomnia")

    assert response.status_code == 429
    assert "Retry-After" not in response.headers
    assert response.json()["error"] == "too_many_requests"


def test_the_retry_after_setting_applies_to_every_injected_429(sim: Simulator, clients: Clients):
    faults = sim.faults("pexip")
    faults.retry_after = 0.5
    faults.script(429)

    assert clients.get("pexip").headers["Retry-After"] == "0.5"
    faults.rate_429 = 1.0
    assert clients.get("pexip").headers["Retry-After"] == "0.5"


@pytest.mark.parametrize("status", [500, 502, 503, 409, 400, 403, 404, 422])
def test_scripted_statuses_answer_in_pexip_error_format(
    sim: Simulator, clients: Clients, status: int
):
    sim.faults("pexip").script(status)

    response = clients.get("pexip")

    assert response.status_code == status
    [error] = response.json()["errors"]
    assert error["statusCode"] == status
    assert set(error) == {"message", "code", "type", "statusCode"}
    assert "X-Correlation-Id" in response.headers


@pytest.mark.parametrize("status", [500, 502, 503, 409, 400, 403, 404, 422])
def test_scripted_statuses_answer_in_valomnia_error_format(
    sim: Simulator, clients: Clients, status: int
):
    sim.faults("valomnia").script(status)

    response = clients.get("valomnia")

    assert response.status_code == status
    assert set(response.json()) == {"error", "error_description"}


def test_a_valomnia_500_matches_the_reference_page(sim: Simulator, clients: Clients):
    sim.faults("valomnia").script(500)

    assert clients.get("valomnia").json() == {
        "error": "server_error",
        "error_description": "Oops! Something went wrong...",
    }


# --- broken bodies and connections -------------------------------------------------------


@pytest.mark.parametrize("api", ["pexip", "valomnia"])
def test_malformed_is_a_complete_200_whose_body_is_not_json(
    sim: Simulator, clients: Clients, api: str
):
    sim.faults(api).script("malformed")

    response = clients.get(api)

    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)
    assert orjson.loads(clients.get(api).content)["data"]


@pytest.mark.parametrize("api", ["pexip", "valomnia"])
def test_truncated_closes_the_connection_halfway_through_the_body(
    sim: Simulator, clients: Clients, api: str
):
    sim.faults(api).script("truncated")

    with pytest.raises(httpx.RemoteProtocolError):
        clients.get(api)

    assert sim.request_log(api)[-1]["status"] == 200
    assert clients.get(api).status_code == 200


@pytest.mark.parametrize("api", ["pexip", "valomnia"])
def test_reset_closes_the_connection_without_an_answer(sim: Simulator, clients: Clients, api: str):
    sim.faults(api).script("reset")

    with pytest.raises(httpx.TransportError):
        clients.get(api)

    assert sim.request_log(api)[-1]["status"] == 0
    assert clients.get(api).status_code == 200


def test_scripted_outcomes_apply_in_order_then_requests_succeed(sim: Simulator, clients: Clients):
    sim.faults("pexip").script(500, (429, 0), 503, 409)

    statuses = [clients.get("pexip").status_code for _ in range(5)]

    assert statuses == [500, 429, 503, 409, 200]
    assert sim.faults("pexip").pending() == 0


def test_faults_never_hit_token_or_login_requests(sim: Simulator):
    sim.faults("pexip").script(500)
    sim.faults("valomnia").script(500)

    clients = Clients(sim)  # logs in to both APIs

    assert clients.get("pexip").status_code == 500
    assert clients.get("valomnia").status_code == 500
    clients.close()


def test_auth_faults_hit_only_the_token_and_login_requests(sim: Simulator):
    sim.auth_faults("pexip").script((429, 0.5), 503)
    sim.auth_faults("valomnia").script(502)

    with httpx.Client(base_url=sim.url) as http:
        limited = http.post(TOKEN, data=CREDENTIALS)
        unavailable = http.post(TOKEN, data=CREDENTIALS)
        login = http.post("/j_spring_security_check", data=LOGIN)
        clients = Clients(sim)  # both succeed: the scripts are used up

    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "0.5")
    assert unavailable.status_code == 503
    assert unavailable.json()["error"] == "service_unavailable"  # Keycloak's error shape
    assert login.status_code == 502
    assert clients.get("pexip").status_code == 200
    assert clients.get("valomnia").status_code == 200
    clients.close()


def test_an_unknown_scripted_outcome_is_rejected(sim: Simulator):
    with pytest.raises(ValueError, match="teapot"):
        sim.faults("pexip").script("teapot")
    with pytest.raises(ValueError):
        sim.faults("pexip").script(418)


# --- random faults -----------------------------------------------------------------------


def test_rates_of_one_fail_every_request(sim: Simulator, clients: Clients):
    sim.faults("pexip").rate_429 = 1.0
    sim.faults("valomnia").rate_5xx = 1.0

    assert {clients.get("pexip").status_code for _ in range(5)} == {429}
    assert {clients.get("valomnia").status_code for _ in range(12)} <= {500, 502, 503}


def test_random_faults_are_reproducible_for_a_seed(sim: Simulator, clients: Clients):
    def run() -> list[tuple[int, bool]]:
        faults = sim.faults("valomnia")
        faults.clear()
        faults.seed = 5
        faults.rate_429, faults.rate_5xx, faults.rate_malformed = 0.2, 0.2, 0.1
        outcomes = []
        for _ in range(30):
            response = clients.get("valomnia")
            outcomes.append((response.status_code, is_json(response.content)))
        return outcomes

    first = run()

    assert first == run()
    assert {(200, True), (200, False), (429, True)} <= set(first)


def is_json(content: bytes) -> bool:
    try:
        orjson.loads(content)
    except orjson.JSONDecodeError:
        return False
    return True


def test_clear_resets_everything_but_the_concurrency_limit(sim: Simulator, clients: Clients):
    faults = sim.faults("pexip")
    faults.latency_ms, faults.rate_429, faults.retry_after = 10, 1.0, 3
    faults.script(500)

    faults.clear()

    assert (faults.latency_ms, faults.rate_429, faults.retry_after, faults.pending()) == (
        0,
        0,
        None,
        0,
    )
    assert faults.max_concurrent == 4
    assert sim.faults("valomnia").max_concurrent is None
    assert clients.get("pexip").status_code == 200


def test_latency_delays_every_appointments_answer(sim: Simulator, clients: Clients):
    sim.faults("valomnia").latency_ms = 150

    started = time.perf_counter()
    clients.get("valomnia")

    assert time.perf_counter() - started >= 0.15


def concurrent_statuses(sim: Simulator, api: str, n: int) -> Counter[int]:
    """Statuses of n requests sent at the same moment, each on its own connection."""
    barrier = threading.Barrier(n)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def one() -> None:
        clients = Clients(sim)
        barrier.wait()
        status = clients.get(api).status_code
        with lock:
            statuses[status] += 1
        clients.close()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_a_fifth_concurrent_pexip_request_gets_429(sim: Simulator):
    sim.faults("pexip").latency_ms = 400

    assert concurrent_statuses(sim, "pexip", 5) == {200: 4, 429: 1}
    assert concurrent_statuses(sim, "pexip", 4) == {200: 4}
    assert sim.request_count("pexip") == 9


def test_valomnia_has_no_concurrency_limit_unless_set(sim: Simulator):
    sim.faults("valomnia").latency_ms = 300

    assert concurrent_statuses(sim, "valomnia", 6) == {200: 6}
    sim.faults("valomnia").max_concurrent = 2
    assert concurrent_statuses(sim, "valomnia", 3) == {200: 2, 429: 1}


# --- expiry, hooks, accounting -----------------------------------------------------------


def test_tokens_expired_mid_sync_answer_401_from_the_next_request(sim: Simulator, clients: Clients):
    sim.after_request("pexip", 2, sim.expire_tokens)

    statuses = [clients.get("pexip").status_code for _ in range(3)]

    assert statuses == [200, 200, 401]
    assert clients.get("pexip").json()["errors"][0]["statusCode"] == 401


def test_sessions_expired_mid_sync_redirect_from_the_next_request(sim: Simulator, clients: Clients):
    sim.after_request("valomnia", 1, sim.expire_sessions)

    statuses = [clients.get("valomnia").status_code for _ in range(2)]

    assert statuses == [200, 302]


def test_after_request_runs_before_the_kth_answer_is_sent(sim: Simulator, clients: Clients):
    target = sim.pexip.ids()[60]
    sim.after_request("pexip", 2, lambda: sim.pexip.update([target]))

    pages = [clients.get("pexip", offset=60, limit=1).json()["data"][0] for _ in range(3)]

    assert pages[0] == pages[1] != pages[2]
    assert pages[2]["internalNotes"] == "Revision 1"
    assert sim.pexip.get(target)["internalNotes"] == "Revision 1"


def test_after_request_can_change_data_between_pages_of_a_sync(sim: Simulator, clients: Clients):
    sim.after_request("valomnia", 1, lambda: sim.valomnia.insert(2))

    first = clients.get("valomnia", max=100).json()
    second = clients.get("valomnia", max=100, offset=100).json()

    assert first["paging"]["total"] == 120
    assert second["paging"]["total"] == 122
    assert [r["id"] for r in second["data"]] == list(range(101, 123))


def test_after_request_for_a_request_already_made_is_an_error(sim: Simulator, clients: Clients):
    clients.get("pexip")

    with pytest.raises(ValueError):
        sim.after_request("pexip", 1, lambda: None)


def test_request_count_and_log_cover_appointments_requests_only(sim: Simulator, clients: Clients):
    clients.pexip.get(PEXIP, params={"status[]": "ACCEPTED", "limit": 5})
    clients.get("valomnia", max=3)

    assert sim.request_count("pexip") == 1
    assert sim.request_count("valomnia") == 1
    [entry] = sim.request_log("pexip")
    assert entry["method"] == "GET"
    assert entry["path"] == PEXIP
    assert entry["query"] == "status%5B%5D=ACCEPTED&limit=5"
    assert entry["status"] == 200
    headers = {name.lower(): value for name, value in entry["headers"].items()}
    assert headers["authorization"].startswith("Bearer ")


def test_reset_counters_restarts_numbering_and_empties_logs(sim: Simulator, clients: Clients):
    clients.get("pexip")
    clients.get("pexip")

    sim.reset_counters()
    sim.after_request("pexip", 1, lambda: sim.faults("pexip").script(503))

    assert sim.request_count("pexip") == 0
    assert sim.request_log("pexip") == []
    assert [clients.get("pexip").status_code for _ in range(2)] == [200, 503]
    assert sim.request_count("pexip") == 2


def test_a_failing_hook_does_not_break_the_answer(sim: Simulator, clients: Clients):
    sim.after_request("pexip", 1, lambda: 1 / 0)

    assert clients.get("pexip").status_code == 200


# --- admin routes and the command line ---------------------------------------------------


def test_admin_routes_change_data_faults_and_clock(sim: Simulator):
    admin = httpx.Client(verify=False, base_url=sim.url + "/_sim")

    updated = admin.post("/valomnia/update", json={"ids": [3, 4]}).json()
    sampled = admin.post("/pexip/update", json={"fraction": 0.05}).json()
    inserted = admin.post("/valomnia/insert", json={"n": 2}).json()
    deleted = admin.post("/valomnia/delete", json={"ids": [5]}).json()
    ticked = admin.post("/valomnia/tick", json={"seconds": 60}).json()
    faults = admin.post("/pexip/faults", json={"rate_5xx": 0.5, "script": [[429, 1]]}).json()

    assert updated == {"ids": [3, 4]}
    assert len(sampled["ids"]) == 6
    assert sim.pexip.get(sampled["ids"][0])["internalNotes"] == "Revision 1"
    assert inserted == {"ids": [121, 122]}
    assert deleted == {"ids": [5]}
    assert ticked == {"clock": "2026-03-01T10:01:00Z"}
    assert (faults["rate_5xx"], faults["pending"]) == (0.5, 1)
    assert admin.get("/valomnia/stats").json() == {"count": 121, "requests": 0}
    assert admin.post("/valomnia/delete", json={"ids": [5]}).status_code == 404
    assert admin.post("/pexip/faults", json={"colour": 1}).status_code == 400
    assert admin.post("/other/tick").status_code == 404
    admin.close()


def test_python_m_serves_until_interrupted_and_prints_url_and_credentials():
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.simulator", "--port", "0", "--appointments", "50"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url is not None
        assert "pexip-secret" in line and "valomnia-secret" in line
        stats = httpx.get(url.group(0) + "/_sim/pexip/stats").json()
        assert stats == {"count": 50, "requests": 0}
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
