"""Other processes that hold a DuckDB file, and the real `apptsync` run as a process.

A holder is a separate Python process with one DuckDB connection, as an analyst's CLI or a
BI tool would keep: it answers one SQL statement per line on stdin with the first value of
its result, inside that same connection, until it is released."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import TracebackType

APPTSYNC = str(Path(sys.executable).with_name("apptsync"))

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


def apptsync(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `apptsync` with the test's environment (plus `env`)."""
    return subprocess.run(
        [APPTSYNC, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


def start_apptsync(*args: str, **env: str) -> subprocess.Popen[str]:
    """`apptsync` in the background; its log (stderr) is read line by line by the test."""
    return subprocess.Popen(
        [APPTSYNC, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]
