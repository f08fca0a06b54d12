"""What keeps `apptsync` waiting, held for exactly as long as a test needs.

`Holder`: another process with one DuckDB connection to a file, as an analyst's CLI or a
BI tool would keep; it answers one SQL statement per line on stdin with the first value of
its result, inside that same connection, until it is released. `HeldRequest`: the
simulator's answer to one request, held back so the process that sent it stays inside its
sync (the run lock and dlt's working folder in use), however slow the machine."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType

from pipelines.simulator import Simulator
from tests.cli_helpers import PROCESS_TIMEOUT, wait_until

_HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "read_only")
print("ready", flush=True)
for line in sys.stdin:
    print(con.execute(line).fetchone()[0], flush=True)
"""


class Holder:
    """A process holding `database` open (read-only or read-write) until `release()`."""

    def __init__(self, database: Path | str, *, read_only: bool) -> None:
        mode = "read_only" if read_only else "read_write"
        self.process = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(database), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._line() == "ready", f"the holder could not open {database}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def scalar(self, sql: str) -> str:
        """The first value of `sql`, read inside the holder's own connection."""
        assert self.process.stdin is not None
        self.process.stdin.write(sql.replace("\n", " ") + "\n")
        self.process.stdin.flush()
        return self._line()

    def release(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        self.process.wait(timeout=60)

    def _line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def __enter__(self) -> Holder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is not None:
            self.process.kill()
        self.release()


class HeldRequest:
    """Holds the simulator's answer to the k-th appointments request of `api` until
    `release()`."""

    def __init__(self, sim: Simulator, api: str, k: int = 1) -> None:
        self._released = threading.Event()
        self.sim, self.api, self.k = sim, api, k
        sim.reset_counters()
        sim.after_request(api, k, lambda: self._released.wait(PROCESS_TIMEOUT))

    def wait_for_request(self) -> None:
        wait_until(lambda: self.sim.request_count(self.api) >= self.k, f"a request to {self.api}")

    def release(self) -> None:
        self._released.set()
