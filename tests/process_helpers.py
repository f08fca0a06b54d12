"""Run the real `apptsync` command in its own process, as cron or systemd would.

The child inherits the test's environment (the `isolated_env` fixture's DLT_DATA_DIR and
warehouse, the sources pointed at the simulator), so it reads and writes only the test's
files. Output goes to files, so a test can read what a still-running process said.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipelines.simulator import Simulator

APPTSYNC = Path(sys.executable).parent / "apptsync"
PROCESS_TIMEOUT = 300.0
"""A bound on every wait below, so a broken test fails instead of hanging CI."""


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


def start_apptsync(*args: str, folder: Path, name: str, **env: str) -> Apptsync:
    """Start `apptsync ARGS` with the test's environment (plus `env`)."""
    stdout, stderr = folder / f"{name}.out", folder / f"{name}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [str(APPTSYNC), *args],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
        )
    return Apptsync(process, stdout, stderr)


def run_apptsync(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `apptsync ARGS` to the end and return its exit code and output."""
    return subprocess.run(
        [str(APPTSYNC), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
        timeout=PROCESS_TIMEOUT,
    )


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds; fail (not hang) after `PROCESS_TIMEOUT`."""
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


class HeldRequest:
    """Holds the simulator's answer to the k-th appointments request of `api` until
    `release()`: the process that sent it stays inside its sync (the run lock and dlt's
    working folder in use) for exactly as long as a test needs, however slow the machine."""

    def __init__(self, sim: Simulator, api: str, k: int = 1) -> None:
        self._released = threading.Event()
        self.sim, self.api, self.k = sim, api, k
        sim.reset_counters()
        sim.after_request(api, k, lambda: self._released.wait(PROCESS_TIMEOUT))

    def wait_for_request(self) -> None:
        wait_until(lambda: self.sim.request_count(self.api) >= self.k, f"a request to {self.api}")

    def release(self) -> None:
        self._released.set()


def run_on_terminal(*args: str, until: str, then: Callable[[], None], **env: str) -> str:
    """Run `apptsync ARGS` with a pseudo-terminal as stdout and stderr; once its screen
    output shows `until`, call `then()`; return everything it wrote, ANSI codes removed."""
    import pty
    import select

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(APPTSYNC), *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": "160", **env},
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
            if not called and until in strip_ansi(screen.decode("utf-8", "replace")):
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
