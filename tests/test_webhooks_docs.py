"""The webhook settings of the source's signature are the ones the docs list."""

from __future__ import annotations

import inspect
from pathlib import Path

from pipelines.sources import get_source

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
