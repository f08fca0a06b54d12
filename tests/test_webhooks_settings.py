"""Webhook settings: the ones the docs list are the source's, and they read as documented."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.sources import get_source
from pipelines.webhooks.merge import full_scan_due, record_full_scan
from pipelines.webhooks.settings import parse_duration

ROOT = Path(__file__).resolve().parent.parent
RUN_OPTIONS = {"full_scan"}  # passed by `apptsync sync --full-scan`, not a setting


def webhook_parameters() -> list[str]:
    entry = get_source("pexip_engage")
    names = inspect.signature(entry.factory).parameters
    return [n for n in names if n.startswith("webhook") or n == "full_scan_every"]


def test_every_webhook_setting_has_a_readme_row_and_a_config_entry():
    readme = (ROOT / "README.md").read_text()
    config = (ROOT / ".dlt" / "config.toml").read_text()
    secrets = (ROOT / ".dlt" / "example.secrets.toml").read_text()
    names = webhook_parameters()
    assert len(names) == 9
    for name in names:
        key = f"sources.pexip_engage.{name}"
        assert f"| `{key}` | `{key.replace('.', '__').upper()}` |" in readme, name
        listed = config if name != "webhook_secret" else secrets
        assert f"\n{name} = " in listed or f"\n# {name} = " in listed, name


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
