"""Webhook settings read as documented (the README and .dlt/ files: tests/test_docs.py)."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.sources import get_source
from pipelines.webhooks.merge import full_scan_due, record_full_scan
from pipelines.webhooks.settings import parse_duration

RUN_OPTIONS = {"full_scan"}  # passed by `apptsync sync --full-scan`, not a setting


def test_the_full_scan_run_option_is_no_setting():
    entry = get_source("pexip_engage")
    assert set(inspect.signature(entry.factory).parameters) >= RUN_OPTIONS
    assert entry.run_options >= RUN_OPTIONS


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("6h", 21600.0), ("30m", 1800.0), ("90s", 90.0), ("1d", 86400.0), ("45", 45.0), ("0", 0.0)],
)
def test_full_scan_every_reads_durations(text: str, seconds: float):
    assert parse_duration("sources.pexip_engage.full_scan_every", text) == seconds


def test_a_full_scan_is_due_when_none_is_on_record_or_the_last_is_old_enough():
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    state: dict[str, object] = {}
    assert full_scan_due(state, 3600, now)
    record_full_scan(state, now - timedelta(minutes=59))
    assert not full_scan_due(state, 3600, now)
    record_full_scan(state, now - timedelta(minutes=60))
    assert full_scan_due(state, 3600, now)
