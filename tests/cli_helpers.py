"""Run the installed `apptsync` as a user, cron or systemd would: in its own process.

`apptsync` runs to the end; `start_apptsync` in the background, its output going to files
so a test can read what a still-running process said; `run_on_terminal` on a
pseudo-terminal. Each takes `cwd` and `env` (the whole environment; by default the test's
own, which the `isolated_env` fixture points at the test's warehouse and dlt folder) plus
variables to set on top as keywords (`APPTSYNC__LOCK_WAIT_SECONDS="1"`). A CLI test runs
from a folder of its own (`project`) with `clean_env`, so the command finds its settings
as a user's would."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.config import env_name
from pipelines.simulator import Simulator
from pipelines.sources import SOURCES
from tests.utils import TEST_SETTINGS

APPTSYNC = str(Path(sys.executable).with_name("apptsync"))
CHECKOUT = Path(__file__).resolve().parent.parent
PROCESS_TIMEOUT = 300.0
"""A bound on every wait below, so a broken test fails instead of hanging CI."""


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


def _environment(env: Mapping[str, str] | None, extra: Mapping[str, str]) -> dict[str, str]:
    return {**(os.environ if env is None else env), **extra}


def apptsync(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = False,
    timeout: float = PROCESS_TIMEOUT,
    **extra_env: str,
) -> subprocess.CompletedProcess[str]:
    """Run `apptsync ARGS` to the end (stdin empty, as under cron) and return its exit code
    and output; `check` fails the test on a non-zero exit, showing stderr."""
    result = subprocess.run(
        [APPTSYNC, *args],
        cwd=cwd,
        env=_environment(env, extra_env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        pytest.fail(f"apptsync {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


@dataclass
class Apptsync:
    """A started `apptsync` process and the files its output goes to."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait(self) -> int:
        return self.process.wait(timeout=PROCESS_TIMEOUT)

    def out(self) -> str:
        return self.stdout.read_text(encoding="utf-8")

    def err(self) -> str:
        return self.stderr.read_text(encoding="utf-8")


def start_apptsync(
    *args: str,
    folder: Path,
    name: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    **extra_env: str,
) -> Apptsync:
    """Start `apptsync ARGS` in the background; its output goes to `folder/name.out|err`."""
    stdout, stderr = folder / f"{name}.out", folder / f"{name}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [APPTSYNC, *args],
            cwd=cwd,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=_environment(env, extra_env),
        )
    return Apptsync(process, stdout, stderr)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds; fail (not hang) after `PROCESS_TIMEOUT`."""
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def run_on_terminal(
    *args: str, until: str | re.Pattern[str], then: Callable[[], None], **extra_env: str
) -> str:
    """Run `apptsync ARGS` with a pseudo-terminal as stdout and stderr; once its screen
    output shows `until` (a text or a pattern), call `then()`; return everything it wrote,
    ANSI codes removed."""
    import pty
    import select

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [APPTSYNC, *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=_environment(None, {"COLUMNS": "160", **extra_env}),
    )
    os.close(follower)
    screen, called = b"", False
    deadline = time.monotonic() + PROCESS_TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal closed: the process is gone
                    break
                if not chunk:
                    break
                screen += chunk
            shown = strip_ansi(screen.decode("utf-8", "replace"))
            if not called and (until in shown if isinstance(until, str) else until.search(shown)):
                called = True
                then()
            if process.poll() is not None and not ready:
                break
    finally:
        os.close(leader)
        if not called:
            then()
        process.wait(timeout=PROCESS_TIMEOUT)
    return strip_ansi(screen.decode("utf-8", "replace"))


def strip_ansi(text: str) -> str:
    """Terminal output without its colour and cursor codes."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def error_lines(stderr: str) -> list[str]:
    """The lines a command printed as its error (`error: ...`), logs left out."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]
