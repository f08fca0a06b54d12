"""Credentials that change under a running sync: revoked tokens, expired sessions.

A request that was refused under a credential some other request has already replaced is not
refused for its own sake: it is sent again under the newest one, however often that happens
in one scan. Only a credential that is still the current one counts as rejected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.load.pipeline import run_source
from pipelines.simulator import Simulator
from tests import test_pexip_sync, test_valomnia_sync
from tests.utils import assert_ok, configure_pexip, configure_valomnia


def tokens_used(sim: Simulator) -> list[str]:
    """The bearer tokens the appointments requests carried, in order of first use."""
    headers = ({k.lower(): v for k, v in e["headers"].items()} for e in sim.request_log("pexip"))
    return list(dict.fromkeys(h.get("authorization", "") for h in headers))


@pytest.mark.parametrize("second_revocation_after", [8, 9, 10])
def test_a_token_revoked_twice_during_one_scan_is_refreshed_and_nothing_is_lost(
    pexip: Simulator,
    warehouse: Path,
    monkeypatch: pytest.MonkeyPatch,
    second_revocation_after: int,
):
    # Small pages, four in flight, each held a while: requests queue behind the limit with
    # a token taken before the revocation.
    configure_pexip(pexip, monkeypatch, page_size=10)
    pexip.faults("pexip").latency_ms = 30
    pexip.after_request("pexip", 3, pexip.expire_tokens)
    pexip.after_request("pexip", second_revocation_after, pexip.expire_tokens)

    assert_ok(run_source(test_pexip_sync.DATASET))

    statuses = [e["status"] for e in pexip.request_log("pexip")]
    assert 401 in statuses
    assert statuses.count(200) == pexip.pexip.count() // 10  # every page read once
    assert len(tokens_used(pexip)) == 3  # the first token and one refresh per revocation
    assert test_pexip_sync.raw_counts(warehouse) == test_pexip_sync.expected_counts(pexip)


def test_a_session_expired_twice_during_one_scan_logs_in_twice_more(
    valomnia: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    configure_valomnia(valomnia, monkeypatch, page_size=10)
    valomnia.after_request("valomnia", 3, valomnia.expire_sessions)
    valomnia.after_request("valomnia", 6, valomnia.expire_sessions)

    assert_ok(run_source(test_valomnia_sync.DATASET))

    cookies = (
        {k.lower(): v for k, v in e["headers"].items()}.get("cookie")
        for e in valomnia.request_log("valomnia")
    )
    assert len(set(cookies)) == 3
    test_valomnia_sync.assert_mirrors_the_api(valomnia, warehouse)


# --- token fetch and login follow the one retry policy ------------------------------------


def test_a_token_endpoint_failing_with_5xx_is_retried_like_a_page(
    pexip: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch, caplog
):
    configure_pexip(pexip, monkeypatch, max_attempts=3)
    pexip.auth_faults("pexip").script(503, 502)
    caplog.set_level("WARNING", logger="apptsync")

    assert_ok(run_source(test_pexip_sync.DATASET))

    assert pexip.auth_faults("pexip").pending() == 0
    assert caplog.text.count("attempt 1/3 failed") == 1
    assert caplog.text.count("attempt 2/3 failed") == 1
    assert test_pexip_sync.raw_counts(warehouse) == test_pexip_sync.expected_counts(pexip)


def test_a_token_endpoint_that_keeps_failing_gives_up_after_max_attempts(
    pexip: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    configure_pexip(pexip, monkeypatch, max_attempts=3)
    pexip.auth_faults("pexip").script(*[503] * 5)

    result = run_source(test_pexip_sync.DATASET)
    error = result.error or ""

    assert not result.ok
    assert "cannot get a Pexip Engage token" in error
    assert "gave up after 3 attempts" in error
    assert pexip.auth_faults("pexip").pending() == 2  # exactly three token requests
    assert pexip.request_count("pexip") == 0
    assert test_pexip_sync.raw_counts(warehouse) == {}


def test_a_login_answered_429_waits_the_retry_after_it_names(
    valomnia: Simulator, warehouse: Path, caplog
):
    valomnia.auth_faults("valomnia").script((429, 0.05), (429, 0.05))
    caplog.set_level("WARNING", logger="apptsync")

    assert_ok(run_source(test_valomnia_sync.DATASET))

    assert valomnia.auth_faults("valomnia").pending() == 0
    login = f"retrying in 0.05s: POST {valomnia.url}/j_spring_security_check failed"
    assert caplog.text.count(login) == 2
    test_valomnia_sync.assert_mirrors_the_api(valomnia, warehouse)
