"""Run the installed `apptsync` as a user would: a subprocess, from a folder of the test's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from pipelines.config import env_name
from pipelines.simulator import Simulator
from pipelines.sources import SOURCES
from tests.utils import TEST_SETTINGS

APPTSYNC = str(Path(sys.executable).with_name("apptsync"))
CHECKOUT = Path(__file__).resolve().parent.parent


def project(folder: Path) -> Path:
    """A project folder like a user's: the checkout's `.dlt/config.toml`, nothing else."""
    (folder / ".dlt").mkdir(parents=True, exist_ok=True)
    shutil.copy(CHECKOUT / ".dlt" / "config.toml", folder / ".dlt" / "config.toml")
    return folder


def simulator_env(sim: Simulator) -> dict[str, str]:
    """Every source pointed at the simulator, through dlt's environment variables."""
    env = {}
    for entry in SOURCES.values():
        for key, value in {**entry.simulator_settings(sim), **TEST_SETTINGS}.items():
            env[env_name(f"{entry.config_section}.{key}")] = str(value)
    return env


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment without the test's own warehouse and dlt folder (set by the
    `isolated_env` fixture), so the subprocess finds them from its folder and flags."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SOURCES__", "DESTINATION__", "APPTSYNC"))
        and k not in ("DLT_DATA_DIR",)
    }
    env.update(extra or {})
    return env


def apptsync(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    check: bool = False,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [APPTSYNC, *args],
        cwd=cwd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        pytest.fail(f"apptsync {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result
