"""Pexip Engage: fewer, fuller requests, within the published limits.

The API documents no maximum page size, 4 concurrent requests and 3,000 requests a minute
per IP. A sync asks for large pages and takes the size the server grants (`meta.limit`),
halves a size the server refuses, and keeps every page thread inside one request budget.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from pipelines.config import env_name
from pipelines.extract.budget import RequestBudget
from pipelines.load.pipeline import run_source
from pipelines.simulator import Simulator
from tests.test_pexip_sync import DATASET, expected_counts, raw_counts
from tests.utils import assert_ok, configure_pexip


def limits_and_offsets(sim: Simulator) -> list[tuple[int, int, int]]:
    """(offset, limit, status) of every appointments request, sorted by offset then order."""
    asked = []
    for entry in sim.request_log("pexip"):
        query = parse_qs(entry["query"])
        asked.append((int(query["offset"][0]), int(query["limit"][0]), entry["status"]))
    return sorted(asked, key=lambda a: a[0])


@pytest.fixture
def capped(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """A server whose largest page is 40 records, capping a larger `limit` or refusing it."""
    with Simulator(appointments=300, seed=7, max_limit=40, over_limit=request.param) as sim:
        yield sim


def test_the_default_page_size_reads_a_small_collection_in_one_request(
    pexip: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv(env_name("sources.pexip_engage.page_size"))

    assert_ok(run_source(DATASET))

    assert limits_and_offsets(pexip) == [(0, 1000, 200)]
    assert raw_counts(warehouse) == expected_counts(pexip)


@pytest.mark.parametrize("capped", ["clamp"], indirect=True)
def test_pages_are_read_at_the_size_the_server_grants(
    capped: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    configure_pexip(capped, monkeypatch, page_size=100)

    assert_ok(run_source(DATASET))

    # Asked for 100, granted 40 (meta.limit): the rest is paged by 40, no offset skipped.
    assert limits_and_offsets(capped) == [(0, 100, 200)] + [
        (offset, 40, 200) for offset in range(40, 300, 40)
    ]
    assert raw_counts(warehouse) == expected_counts(capped)


@pytest.mark.parametrize("capped", ["reject"], indirect=True)
def test_a_page_size_the_server_refuses_is_halved_until_it_is_taken(
    capped: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch, caplog
):
    configure_pexip(capped, monkeypatch, page_size=160)
    caplog.set_level("WARNING", logger="apptsync")

    assert_ok(run_source(DATASET))

    assert limits_and_offsets(capped) == [(0, 160, 400), (0, 80, 400), (0, 40, 200)] + [
        (offset, 40, 200) for offset in range(40, 300, 40)
    ]
    assert "refused limit=160" in caplog.text
    assert "Query parameter 'limit' must be at most 40" in caplog.text
    assert raw_counts(warehouse) == expected_counts(capped)


def test_a_large_sync_under_the_four_concurrent_limit_provokes_no_429(
    monkeypatch: pytest.MonkeyPatch, warehouse: Path
):
    with Simulator(appointments=2000, seed=11) as sim:  # answers 429 to a 5th request
        configure_pexip(sim, monkeypatch, page_size=25)
        sim.faults("pexip").latency_ms = 10

        assert_ok(run_source(DATASET))

        statuses = [entry["status"] for entry in sim.request_log("pexip")]
        assert statuses == [200] * 80  # every page once: no 429, no retry
        assert raw_counts(warehouse) == expected_counts(sim)


def test_the_request_budget_starts_no_more_than_its_requests_per_minute():
    budget = RequestBudget(per_minute=3, concurrency=4)

    admitted = [budget.acquire(blocking=False) for _ in range(4)]

    assert admitted == [True, True, True, False]
    budget.close()


def test_a_budget_without_a_rate_admits_every_request():
    budget = RequestBudget(per_minute=None, concurrency=None)

    assert all(budget.acquire(blocking=False) for _ in range(10_000))
    with budget.slot():
        pass


@pytest.mark.parametrize("value", ["0", "many"])
def test_a_bad_requests_per_minute_fails_before_the_first_request(
    pexip: Simulator, monkeypatch: pytest.MonkeyPatch, value: str
):
    configure_pexip(pexip, monkeypatch, requests_per_minute=value)

    result = run_source(DATASET)
    error = result.error or ""

    assert not result.ok
    assert "sources.pexip_engage.requests_per_minute" in error
    assert "SOURCES__PEXIP_ENGAGE__REQUESTS_PER_MINUTE" in error
    assert pexip.request_count("pexip") == 0
