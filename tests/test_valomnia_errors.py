"""Valomnia failures: sessions that expire, retries that recover, failures that explain."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pipelines.extract.http import ApiClient, ApiError, AuthError, RetryPolicy
from pipelines.load.pipeline import run_source
from pipelines.simulator import Simulator
from pipelines.sources.valomnia.auth import SessionAuth
from pipelines.sources.valomnia.pages import fetch_page
from tests.test_valomnia_sync import DATASET, assert_mirrors_the_api, raw_counts
from tests.utils import assert_ok, configure_valomnia

PATH = "/api/v1.0/appointments"


def log(sim: Simulator, path: str = PATH) -> list[dict]:
    return [e for e in sim.request_log("valomnia") if e["path"] == path]


def sessions(sim: Simulator) -> list[str]:
    """The JSESSIONID values the appointments requests carried, in order of first use."""
    cookies = (header(e, "Cookie") or "" for e in log(sim))
    return list(dict.fromkeys(c.split("=", 1)[1] for c in cookies if c.startswith("JSESSIONID=")))


def header(entry: dict, name: str) -> str | None:
    return {k.lower(): v for k, v in entry["headers"].items()}.get(name.lower())


# --- sessions ---------------------------------------------------------------------------------


def test_one_login_and_its_session_cookie_serve_every_page(valomnia: Simulator, warehouse: Path):
    assert_ok(run_source(DATASET))

    assert len(log(valomnia)) > 10
    assert all((header(e, "Cookie") or "").startswith("JSESSIONID=") for e in log(valomnia))
    assert len(sessions(valomnia)) == 1


@pytest.fixture(params=["redirect", "401"], ids=["302-to-login", "401"])
def expiring(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Simulator]:
    with Simulator(appointments=300, seed=7, session_expiry=request.param) as sim:
        configure_valomnia(sim, monkeypatch)
        yield sim


def test_an_expired_session_logs_in_again_once(expiring: Simulator, warehouse: Path):
    expiring.after_request("valomnia", 3, expiring.expire_sessions)

    assert_ok(run_source(DATASET))

    assert len(sessions(expiring)) == 2  # logged in again, once
    rejection = 401 if expiring.settings.session_expiry == "401" else 302
    assert [e["status"] for e in log(expiring)].count(rejection) == 1
    assert_mirrors_the_api(expiring, warehouse)


def test_a_session_rejected_right_after_login_fails_instead_of_looping():
    """Unit test of one rule with a mock transport: a second rejection is final."""
    calls = {"login": 0, "api": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/j_spring_security_check":
            calls["login"] += 1
            return httpx.Response(
                302,
                headers={
                    "Location": "/login/ajaxSuccess",
                    "Set-Cookie": f"JSESSIONID=S{calls['login']}; Path=/",
                },
            )
        calls["api"] += 1
        return httpx.Response(302, headers={"Location": "https://acme.example/login/auth"})

    auth = SessionAuth("https://acme.example", "robot@acme.test", "pa55word")
    client = ApiClient(
        "https://acme.example",
        auth=auth,
        retry=RetryPolicy(max_attempts=2),
        transport=httpx.MockTransport(handler),
    )

    with pytest.raises(AuthError, match="rejected twice"):
        client.get_json(PATH)

    assert calls == {"login": 2, "api": 2}


def test_a_wrong_password_fails_clearly_naming_the_keys(
    valomnia: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    configure_valomnia(valomnia, monkeypatch, password="not-the-password")

    result = run_source(DATASET)

    assert not result.ok
    assert "refused the login of 'sync@acme.test'" in result.error
    assert "sources.valomnia.username" in result.error
    assert "not able to find a user" in result.error  # the API's own explanation
    assert "not-the-password" not in result.error
    assert valomnia.request_count("valomnia") == 0
    assert raw_counts(warehouse) == {}


def test_a_refused_login_is_not_retried(valomnia: Simulator):
    posts: list[str] = []

    def spy(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posts.append(request.url.path)
        with httpx.Client() as real:
            return real.send(request)

    auth = SessionAuth(valomnia.url, valomnia.valomnia.username, "not-the-password")
    client = ApiClient(valomnia.url, auth=auth, transport=httpx.MockTransport(spy))

    with client, pytest.raises(AuthError) as failure:
        auth.credential(client)

    assert posts == ["/j_spring_security_check"]
    assert failure.value.status == 302


def test_an_unreachable_tenant_fails_naming_the_base_url():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    auth = SessionAuth(url, "robot@acme.test", "pa55word")
    client = ApiClient(url, auth=auth, retry=RetryPolicy(max_attempts=2, initial_wait=0.01))

    with client, pytest.raises(ApiError) as failure:
        auth.credential(client)

    assert str(failure.value) == (
        "cannot log in to Valomnia: gave up after 2 attempts: no answer from POST "
        f"{url}/j_spring_security_check (ConnectError: [Errno 111] Connection refused); "
        "check config key 'sources.valomnia.base_url' (SOURCES__VALOMNIA__BASE_URL)"
    )


# --- retries ----------------------------------------------------------------------------------


def test_rate_limits_are_retried_honouring_retry_after(
    valomnia: Simulator, warehouse: Path, caplog: pytest.LogCaptureFixture
):
    valomnia.faults("valomnia").script(*[(429, 0.05)] * 4)
    caplog.set_level("WARNING", logger="apptsync")

    assert_ok(run_source(DATASET))

    assert [e["status"] for e in log(valomnia)].count(429) == 4
    assert caplog.text.count("retrying in 0.05s") == 4  # Retry-After, not the backoff
    assert_mirrors_the_api(valomnia, warehouse)


def test_server_errors_resets_and_broken_bodies_are_retried(valomnia: Simulator, warehouse: Path):
    faults = valomnia.faults("valomnia")
    faults.script(500)
    # One fault on each of several requests: each recovers on its first retry.
    for k, outcome in ((3, "reset"), (5, "malformed"), (7, "truncated"), (9, 503)):
        valomnia.after_request("valomnia", k, lambda o=outcome: faults.script(o))

    assert_ok(run_source(DATASET))

    assert faults.pending() == 0
    assert_mirrors_the_api(valomnia, warehouse)


def test_persistent_server_errors_give_up_with_the_api_message(
    valomnia: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    configure_valomnia(valomnia, monkeypatch, max_attempts=2)
    valomnia.faults("valomnia").script(500, 500)

    result = run_source(DATASET)

    assert not result.ok
    assert "gave up after 2 attempts" in result.error
    assert "server_error: Oops! Something went wrong..." in result.error
    assert "X-Correlation-Id" in result.error
    assert raw_counts(warehouse) == {}


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_client_errors_are_not_retried_and_say_why(
    valomnia: Simulator, warehouse: Path, status: int
):
    valomnia.faults("valomnia").script(status)

    result = run_source(DATASET)

    assert not result.ok
    assert f"status {status}" in result.error
    assert len(log(valomnia)) == 1


@pytest.mark.parametrize(
    ("param", "value", "expected"),
    [
        ("dateCreated_gta", "2016-08-15T14:52:48Z", "invalid_param"),
        ("lastUpdated_gte", "2016-08-1Z", "invalid_datetime_format"),
    ],
    ids=["invalid_param", "invalid_datetime_format"],
)
def test_a_rejected_parameter_is_named_with_its_origin(
    valomnia: Simulator, param: str, value: str, expected: str
):
    auth = SessionAuth(valomnia.url, valomnia.valomnia.username, valomnia.valomnia.password)

    with ApiClient(valomnia.url, auth=auth) as client, pytest.raises(ApiError) as failure:
        fetch_page(client, PATH, [(param, value)], 0, 25)

    message = str(failure.value)
    assert failure.value.status == 400
    assert expected in message
    assert f"parameter {param}={value}" in message
    if param == "lastUpdated_gte":
        assert "incremental cursor" in message
    assert len(log(valomnia)) == 1  # a 400 is not retried


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("page_size", "zero", "sources.valomnia.page_size"),
        ("page_size", "0", "sources.valomnia.page_size"),
        ("page_size", "5000", "sources.valomnia.page_size"),
        ("base_url", "ftp://acme.valomnia.com", "sources.valomnia.base_url"),
        ("base_url", "https://acme.valomnia.com/api/v1.0", "sources.valomnia.base_url"),
        ("api_version", "1.0", "sources.valomnia.api_version"),
        ("lag_seconds", "-5", "sources.valomnia.lag_seconds"),
        ("username", " ", "sources.valomnia.username"),
        ("max_attempts", "0", "sources.valomnia.max_attempts"),
    ],
)
def test_bad_config_fails_before_the_first_request_naming_the_key(
    valomnia: Simulator, monkeypatch: pytest.MonkeyPatch, key: str, value: str, message: str
):
    configure_valomnia(valomnia, monkeypatch, **{key: value})

    result = run_source(DATASET)

    assert not result.ok
    assert message in result.error
    assert valomnia.request_log("valomnia") == []  # not even a login


@pytest.mark.parametrize("key", ["BASE_URL", "USERNAME", "PASSWORD"])
def test_a_missing_setting_names_its_key(
    valomnia: Simulator, monkeypatch: pytest.MonkeyPatch, key: str
):
    monkeypatch.delenv(f"SOURCES__VALOMNIA__{key}")

    result = run_source(DATASET)

    assert not result.ok
    assert key.lower() in result.error
    assert valomnia.request_log("valomnia") == []


def test_reconcile_refuses_a_filtered_scan(valomnia: Simulator, monkeypatch: pytest.MonkeyPatch):
    configure_valomnia(valomnia, monkeypatch, employee_reference="EMP-00*")

    result = run_source(DATASET, reconcile=True)

    assert not result.ok
    assert "sources.valomnia.employee_reference" in result.error
    assert "reconcile" in result.error
    assert valomnia.request_log("valomnia") == []


def test_secrets_never_reach_logs_warehouse_or_dlt_files(
    valomnia: Simulator, warehouse: Path, isolated_env: Path, caplog: pytest.LogCaptureFixture
):
    valomnia.faults("valomnia").script(503)
    valomnia.after_request("valomnia", 3, valomnia.expire_sessions)
    caplog.set_level("DEBUG")

    assert_ok(run_source(DATASET))

    used = sessions(valomnia)
    assert len(used) == 2
    # httpcore's own DEBUG trace prints raw response headers (Set-Cookie): not ours to filter.
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.split(".")[0] != "httpcore")
    for secret in (valomnia.valomnia.password, *used):
        assert secret not in logged
        assert secret.encode() not in warehouse.read_bytes()
        for path in (isolated_env / "dlt").rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
