"""A key no setting reads (a typo) gets one warning naming it, where it was set and what it
may have meant, before the first request; the project's own config warns about nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dlt.common.configuration.container import Container
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

from pipelines.config import unknown_keys
from pipelines.load.pipeline import run_source
from pipelines.simulator import Simulator
from pipelines.sources import SOURCES
from tests.docs_helpers import ROOT
from tests.utils import assert_ok, configure_source

WriteConfig = Callable[[str, str], None]


@pytest.fixture
def dlt_files(isolated_env: Path) -> Iterator[WriteConfig]:
    """Writes files into the test folder's `.dlt/` and has dlt read them again; dlt's
    previous providers come back after the test."""
    context = Container()[PluggableRunContext]
    previous = context.providers
    folder = isolated_env / ".dlt"
    folder.mkdir(exist_ok=True)

    def write(name: str, text: str) -> None:
        (folder / name).write_text(text)
        context.reload_providers()

    yield write
    for written in folder.iterdir():
        written.unlink()
    context.providers = previous  # the very providers later tests would have seen
    context.context.reset_config()


def config_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "apptsync.config"]


def test_typos_in_config_secrets_and_environment_each_warn_once_before_any_request(
    dlt_files: WriteConfig,
    valomnia: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    dlt_files("config.toml", "[sources.valomnia]\npage_sise = 10\napi_version = 'v1.0'\n")
    dlt_files("secrets.toml", "[sources.valomnia]\npasword = 'x'\n")
    monkeypatch.setenv("SOURCES__VALOMNIA__BACKOF_SECONDS", "1")
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="httpx")  # the requests, whatever set httpx before

    assert_ok(run_source("valomnia"))

    assert config_warnings(caplog) == [
        "unknown config key 'sources.valomnia.backof_seconds' in the environment variable "
        "SOURCES__VALOMNIA__BACKOF_SECONDS is ignored; did you mean backoff_seconds or "
        "lag_seconds?",
        "unknown config key 'sources.valomnia.pasword' in ./.dlt/secrets.toml is ignored; "
        "did you mean password?",
        "unknown config key 'sources.valomnia.page_sise' in ./.dlt/config.toml is ignored; "
        "did you mean page_size?",
    ]
    first_request = next(i for i, r in enumerate(caplog.records) if r.name == "httpx")
    last_warning = max(i for i, r in enumerate(caplog.records) if r.name == "apptsync.config")
    assert last_warning < first_request


def test_a_key_like_no_setting_warns_without_a_suggestion(
    dlt_files: WriteConfig, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SOURCES__PEXIP_ENGAGE__COLOUR", "blue")
    found = unknown_keys("sources.pexip_engage", SOURCES["pexip_engage"].config_keys)
    assert [(u.key, u.close) for u in found] == [("sources.pexip_engage.colour", [])]


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_the_projects_own_config_and_the_test_settings_warn_nothing(
    source: str, dlt_files: WriteConfig, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
):
    dlt_files("config.toml", (ROOT / ".dlt" / "config.toml").read_text())
    dlt_files("secrets.toml", (ROOT / ".dlt" / "example.secrets.toml").read_text())
    configure_source(source, simulator, monkeypatch)
    # dlt also reads a source's settings from `sources.<name>.<name>` and resource sections
    monkeypatch.setenv(f"SOURCES__{source.upper()}__{source.upper()}__PAGE_SIZE", "10")
    monkeypatch.setenv(f"SOURCES__{source.upper()}__APPOINTMENTS__UPDATED", "{}")

    assert unknown_keys(SOURCES[source].config_section, SOURCES[source].config_keys) == []
