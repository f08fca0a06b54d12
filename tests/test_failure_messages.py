"""A failed sync says what to fix in its one line: a URL where nothing answers is named with
the setting it came from; an HTTP error names the method, host and path. Run as the
installed `apptsync`, from a project folder of its own, as cron would."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines.config import env_name
from pipelines.ops.exit_codes import ExitCode
from pipelines.simulator import Simulator
from pipelines.sources import get_source
from pipelines.sources.pexip_engage.settings import APPOINTMENTS_PATH, TOKEN_PATH
from pipelines.sources.valomnia.settings import LOGIN_PATH
from tests.cli_helpers import apptsync, clean_env, project, simulator_env
from tests.utils import rows

USER_SECRET = "url-pa55word"  # a password written into a URL's user part
QUERY_SECRET = "query-t0ken"  # a token in a URL's query
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) apptsync\.")

Case = Callable[[str, Simulator], tuple[str, str]]


def token(sim: Simulator) -> str:
    return TOKEN_PATH.format(enterprise=sim.pexip.enterprise)


def pages(sim: Simulator) -> str:
    return APPOINTMENTS_PATH.format(enterprise=sim.pexip.enterprise) + "?offset=0&limit=25"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The user's project folder, away from the checkout."""
    return project(tmp_path / "project")


def closed_port() -> str:
    """The root URL of a port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def with_secrets(url: str, query: bool) -> str:
    """`url` with a user and password in it (and a token in its query), as one may be
    pasted: the line must show the URL without them."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://robot:{USER_SECRET}@{rest}" + (f"?token={QUERY_SECRET}" if query else "")


def sync(source: str, sim: Simulator, folder: Path, **settings: str) -> str:
    """`apptsync sync --source SOURCE --no-models` with `settings` over the simulator's; its
    one line, once what every failure must keep is checked: exit code 1, only apptsync's
    own log lines on stderr (no traceback, nothing of dlt's), no secret in the output or the
    run ledger, whose error is the line's."""
    env = clean_env({**simulator_env(sim), "DLT_DATA_DIR": str(folder / "dlt")})
    section = get_source(source).config_section
    env.update({env_name(f"{section}.{key}"): value for key, value in settings.items()})
    env[env_name(f"{section}.max_attempts")] = "2"

    done = apptsync("sync", "--source", source, "--no-models", cwd=folder, env=env)

    assert done.returncode == ExitCode.FAILED, done.stdout + done.stderr
    (line,) = done.stdout.splitlines()
    prefix = re.match(rf"{source}: FAILED after \d+\.\ds: ", line)
    assert prefix, line
    assert all(LOG_LINE.match(log) for log in done.stderr.splitlines()), done.stderr
    ledger = rows(folder / "apptsync.duckdb", "select source, error from ops.sync_runs")
    assert ledger == [(source, line[prefix.end() :])]
    secrets = (USER_SECRET, QUERY_SECRET, sim.pexip.client_secret, sim.valomnia.password)
    assert [s for s in secrets if s in done.stdout + done.stderr + str(ledger)] == []
    return line


def unreachable_token_url(root: str, sim: Simulator) -> tuple[str, str]:
    """The setting (the token URL, credentials pasted in) and the request the line names."""
    return with_secrets(root + token(sim), query=True), f"POST {root}{token(sim)}"


def unreachable_pexip_api(root: str, sim: Simulator) -> tuple[str, str]:
    return with_secrets(root, query=False), f"GET {root}{pages(sim)}"


def unreachable_tenant(root: str, sim: Simulator) -> tuple[str, str]:
    return with_secrets(root, query=False), f"POST {root}{LOGIN_PATH}"


@pytest.mark.parametrize(
    ("source", "key", "case"),
    [
        ("pexip_engage", "token_url", unreachable_token_url),
        ("pexip_engage", "base_url", unreachable_pexip_api),
        ("valomnia", "base_url", unreachable_tenant),
    ],
    ids=["pexip-token-url", "pexip-base-url", "valomnia-base-url"],
)
def test_a_url_where_nothing_answers_is_named_with_its_setting(
    simulator: Simulator, folder: Path, source: str, key: str, case: Case
):
    value, request = case(closed_port(), simulator)
    setting = f"{get_source(source).config_section}.{key}"

    line = sync(source, simulator, folder, **{key: value})

    assert f"gave up after 2 attempts: no answer from {request} (ConnectError: " in line
    assert "Connection refused" in line
    assert line.endswith(f"; check config key '{setting}' ({env_name(setting)})")
    assert "robot" not in line and "token=" not in line


def test_a_pexip_base_url_that_is_no_api_shows_method_host_path_and_correlation_id(
    simulator: Simulator, folder: Path
):
    line = sync("pexip_engage", simulator, folder, base_url=simulator.url + "/nope")

    assert f": GET {simulator.url}/nope{pages(simulator)} failed: " in line
    assert re.search(r"\(status 404, X-Correlation-Id [0-9a-f-]{36}\)$", line), line


def test_a_pexip_token_url_that_is_no_endpoint_names_its_setting(
    simulator: Simulator, folder: Path
):
    url = simulator.url + "/nope" + token(simulator)

    line = sync("pexip_engage", simulator, folder, token_url=url)

    assert f"ApiError: POST {url} failed: " in line
    assert line.endswith(
        "(status 404); check config key 'sources.pexip_engage.token_url' "
        "(SOURCES__PEXIP_ENGAGE__TOKEN_URL)"
    )
    assert "refused the client credentials" not in line


def test_a_valomnia_base_url_without_a_login_page_shows_host_path_and_names_it(
    simulator: Simulator, folder: Path
):
    line = sync("valomnia", simulator, folder, base_url=simulator.url + "/nope")

    assert f": ApiError: POST {simulator.url}/nope{LOGIN_PATH} failed: " in line
    assert line.endswith(
        "(status 404); check config key 'sources.valomnia.base_url' (SOURCES__VALOMNIA__BASE_URL)"
    )
    assert "refused the login" not in line  # a wrong URL, not wrong credentials
