"""Shared fixtures: an isolated dlt environment, a running simulator, a fresh warehouse."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.simulator import Simulator
from tests.model_fixtures import fresh, fresh_warehouse, model_destination  # noqa: F401 (fixtures)
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401 (fixtures)
from tests.utils import configure_pexip, configure_valomnia

SMALL_N = 300

# A shell's background job (`make test &`) starts with SIGINT ignored, and a child process
# inherits that: the tests that stop apptsync or the simulator with Ctrl-C's signal would
# see it ignored. A handler here is reset to the default in every child at exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own dlt working folder, warehouse file and clean config env;
    whatever the code under test puts in the environment (the demo does) is undone after."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(
            ("SOURCES__", "DESTINATION__", "NORMALIZE__", "RUNTIME__", "APPTSYNC", "CHECKS__")
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "WARNING")
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def warehouse(isolated_env: Path) -> Path:
    return isolated_env / "warehouse.duckdb"


@pytest.fixture(params=["duckdb", "postgres"])
def target(request: pytest.FixtureRequest, warehouse: Path) -> Path | str:
    """The warehouse of a test that runs against both destinations: the DuckDB file, or a
    fresh Postgres database (with `APPTSYNC__DESTINATION=postgres` set)."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return warehouse


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator(appointments=SMALL_N, seed=7) as sim:
        yield sim


@pytest.fixture
def pexip(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    configure_pexip(simulator, monkeypatch)
    return simulator


@pytest.fixture
def valomnia(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    configure_valomnia(simulator, monkeypatch)
    return simulator
