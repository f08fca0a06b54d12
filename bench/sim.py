"""The simulator as a separate process, and the few admin calls the benchmark makes.

Why a process of its own: the simulator serves JSON in Python; in the syncing process it
would share the GIL and the measured memory. Its CPU still competes for the box's two cores,
which is what a real sync on a small machine sees from any other process.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ENTERPRISE = "acme"
PEXIP_CLIENT_ID = "apptsync"
PEXIP_CLIENT_SECRET = "pexip-secret"
VALOMNIA_USERNAME = "sync@acme.test"
VALOMNIA_PASSWORD = "valomnia-secret"
PEXIP_APPOINTMENTS = f"/enterprises/{ENTERPRISE}/appointments"
TOKEN_PATH = f"/realms/{ENTERPRISE}/protocol/openid-connect/token"
VALOMNIA_APPOINTMENTS = "/api/v1.0/appointments"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SimulatorProcess:
    """`python -m pipelines.simulator` on a free port; stopped (by its own pid) on exit."""

    def __init__(
        self, appointments: int, seed: int, log_path: Path, extra_args: Sequence[str] = ()
    ) -> None:
        self.extra_args = list(extra_args)
        self.appointments = appointments
        self.seed = seed
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SimulatorProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 300.0) -> None:
        cmd = [
            sys.executable,
            "-m",
            "pipelines.simulator",
            "--port",
            str(self.port),
            "--appointments",
            str(self.appointments),
            "--seed",
            str(self.seed),
            *self.extra_args,
        ]
        log = self.log_path.open("wb")
        self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=os.getcwd())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"the simulator exited with {self._proc.returncode}; see {self.log_path}"
                )
            try:
                if httpx.get(f"{self.url}/_sim/pexip/stats", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the simulator did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def cpu_seconds(self) -> float:
        """User + system CPU the simulator process has used so far (from /proc)."""
        if self._proc is None:
            return 0.0
        try:
            with open(f"/proc/{self._proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    # --- admin routes ------------------------------------------------------------------------

    def admin(self, api: str, action: str, payload: dict[str, Any] | None = None) -> Any:
        url = f"{self.url}/_sim/{api}/{action}"
        if payload is None:
            response = httpx.get(url, timeout=60)
        else:
            response = httpx.post(url, json=payload, timeout=300)
        response.raise_for_status()
        return response.json()

    def requests(self, api: str) -> int:
        return int(self.admin(api, "stats")["requests"])

    def count(self, api: str) -> int:
        return int(self.admin(api, "stats")["count"])


def pexip_token(url: str) -> str:
    response = httpx.post(
        url + TOKEN_PATH,
        data={
            "grant_type": "client_credentials",
            "client_id": PEXIP_CLIENT_ID,
            "client_secret": PEXIP_CLIENT_SECRET,
        },
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def granted_page_size(url: str, asked: int) -> int:
    """The page size the Pexip API grants for `asked`, read back from `meta.limit` of one
    first page, as the sync does: every page count of the benchmark is based on it."""
    headers = {"Authorization": f"Bearer {pexip_token(url)}"}
    params = {"offset": 0, "limit": asked}
    response = httpx.get(url + PEXIP_APPOINTMENTS, params=params, headers=headers, timeout=60)
    response.raise_for_status()
    return int(response.json()["meta"]["limit"])


def read_valomnia(url: str, n: int, page_size: int, concurrency: int = 4) -> int:
    """Every Valomnia page once, by offset (untimed: it fills the simulator's byte cache)."""
    with httpx.Client(base_url=url, timeout=60) as client:
        login = client.post(
            "/j_spring_security_check",
            data={"j_username": VALOMNIA_USERNAME, "j_password": VALOMNIA_PASSWORD, "ajax": "true"},
        )
        if "JSESSIONID" not in client.cookies:
            raise RuntimeError(f"Valomnia login failed: {login.status_code}")

        def fetch(page: int) -> int:
            params = {"max": page_size, "offset": page * page_size}
            response = client.get(VALOMNIA_APPOINTMENTS, params=params)
            response.raise_for_status()
            return len(response.json()["data"])

        with ThreadPoolExecutor(concurrency) as pool:
            return sum(pool.map(fetch, range(pages_needed(n, page_size))))


def pages_needed(n: int, page_size: int) -> int:
    return max(1, math.ceil(n / page_size))
