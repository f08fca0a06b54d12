"""Pexip Engage failures: retries that recover, failures that explain, secrets that stay secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import ConfigError
from pipelines.load.pipeline import run_source
from pipelines.simulator import Simulator
from tests.test_pexip_sync import DATASET, expected_counts, raw_counts
from tests.utils import assert_ok, configure_pexip, rows


def statuses(sim: Simulator) -> list[int]:
    return [entry["status"] for entry in sim.request_log("pexip")]


@pytest.mark.parametrize("retry_after", [None, 0.05], ids=["no-retry-after", "retry-after"])
def test_a_429_storm_is_retried_until_every_page_lands(
    pexip: Simulator, warehouse: Path, retry_after: float | None
):
    outcomes = [(429, retry_after) if retry_after is not None else 429] * 4
    pexip.faults("pexip").script(*outcomes)

    assert_ok(run_source(DATASET))

    assert statuses(pexip).count(429) == 4
    assert raw_counts(warehouse) == expected_counts(pexip)


def test_5xx_bursts_timeouts_and_resets_are_retried(pexip: Simulator, warehouse: Path):
    pexip.faults("pexip").script(500, 503, "reset", 502, 409)

    assert_ok(run_source(DATASET))

    assert raw_counts(warehouse) == expected_counts(pexip)


def test_random_faults_with_the_concurrency_limit_lose_nothing(
    pexip: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    configure_pexip(pexip, monkeypatch, max_concurrency=6, max_attempts=12)
    faults = pexip.faults("pexip")
    faults.rate_429, faults.rate_5xx, faults.rate_truncated = 0.1, 0.1, 0.05
    faults.latency_ms = 5

    assert_ok(run_source(DATASET))

    assert raw_counts(warehouse) == expected_counts(pexip)


def test_parallel_paging_stays_within_four_requests_in_flight(pexip: Simulator, warehouse: Path):
    pexip.faults("pexip").latency_ms = 20

    assert_ok(run_source(DATASET))

    assert 429 not in statuses(pexip)  # the simulator answers 429 to a 5th concurrent request
    assert raw_counts(warehouse) == expected_counts(pexip)


def test_a_token_expiring_mid_sync_is_refreshed_once(pexip: Simulator, warehouse: Path):
    pexip.after_request("pexip", 3, pexip.expire_tokens)

    assert_ok(run_source(DATASET))

    assert 401 in statuses(pexip)
    assert raw_counts(warehouse) == expected_counts(pexip)


def test_invalid_json_is_retried_then_fails_with_the_correlation_id(
    pexip: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    configure_pexip(pexip, monkeypatch, max_attempts=3)
    pexip.faults("pexip").script("malformed", "truncated", "malformed")

    result = run_source(DATASET)

    assert not result.ok
    assert "not valid JSON" in result.error
    assert "X-Correlation-Id" in result.error
    assert len(pexip.request_log("pexip")) == 3


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_client_errors_are_not_retried_and_name_status_and_correlation_id(
    pexip: Simulator, warehouse: Path, status: int
):
    pexip.faults("pexip").script(status)

    result = run_source(DATASET)

    assert not result.ok
    assert f"status {status}" in result.error
    assert "X-Correlation-Id" in result.error
    log = pexip.request_log("pexip")
    assert len(log) == 1
    assert log[0]["headers"].get("x-correlation-id") or log[0]["headers"].get("X-Correlation-Id")


def test_every_request_carries_a_new_correlation_id(pexip: Simulator, warehouse: Path):
    assert_ok(run_source(DATASET))

    ids = [
        {k.lower(): v for k, v in e["headers"].items()}["x-correlation-id"]
        for e in pexip.request_log("pexip")
    ]
    assert len(ids) == len(set(ids)) == len(pexip.request_log("pexip"))


def test_a_wrong_client_secret_fails_clearly_and_loads_nothing(
    pexip: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    configure_pexip(pexip, monkeypatch, client_secret="wrong-secret-value")

    result = run_source(DATASET)

    assert not result.ok
    assert "refused the client credentials" in result.error
    assert "status 401" in result.error
    assert "wrong-secret-value" not in result.error
    assert pexip.request_count("pexip") == 0


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("page_size", "zero", "sources.pexip_engage.page_size"),
        ("page_size", "0", "sources.pexip_engage.page_size"),
        ("base_url", "ftp://example", "sources.pexip_engage.base_url"),
        ("max_concurrency", "99", "sources.pexip_engage.max_concurrency"),
        ("window_from", "yesterday-ish", "sources.pexip_engage.window_from"),
        ("filters", '{"colour": ["red"]}', "sources.pexip_engage.filters.colour"),
        ("filters", '{"status": ["DONE"]}', "sources.pexip_engage.filters.status"),
    ],
)
def test_bad_config_fails_before_the_first_request_naming_the_key(
    pexip: Simulator, monkeypatch: pytest.MonkeyPatch, key: str, value: str, message: str
):
    configure_pexip(pexip, monkeypatch, **{key: value})

    result = run_source(DATASET)

    assert not result.ok
    assert message in result.error
    assert pexip.request_count("pexip") == 0


def test_a_missing_secret_names_its_key(pexip: Simulator, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SOURCES__PEXIP_ENGAGE__CLIENT_SECRET")

    result = run_source(DATASET)

    assert not result.ok
    assert "client_secret" in result.error
    assert pexip.request_count("pexip") == 0


def test_config_error_names_the_environment_variable_too():
    error = ConfigError("sources.pexip_engage.page_size", "must be between 1 and 1000")
    assert "SOURCES__PEXIP_ENGAGE__PAGE_SIZE" in str(error)


def test_secrets_never_reach_logs_warehouse_or_dlt_files(
    pexip: Simulator, warehouse: Path, isolated_env: Path, caplog: pytest.LogCaptureFixture
):
    pexip.faults("pexip").script(503)
    pexip.after_request("pexip", 2, pexip.expire_tokens)
    caplog.set_level("DEBUG")

    assert_ok(run_source(DATASET))

    secret = pexip.pexip.client_secret
    assert secret not in caplog.text
    assert secret.encode() not in warehouse.read_bytes()
    for path in (isolated_env / "dlt").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    dumped = rows(warehouse, f"select * from {DATASET}.appointments limit 5")
    assert secret not in str(dumped)
