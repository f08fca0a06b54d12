"""apptsync's exit codes, in one place: the command line returns them, `--help` and the
README list them from here (a test compares the README's table with this one)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Protocol


class ExitCode(IntEnum):
    """What a scheduler can tell from `$?`."""

    OK = 0
    FAILED = 1
    USAGE = 2  # argparse's own code for bad arguments
    LOCKED = 75  # EX_TEMPFAIL of sysexits.h: try again later
    INTERRUPTED = 130  # 128 + SIGINT


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "ok",
    ExitCode.FAILED: (
        "a source failed, an audit of severity error failed, or a source is older than --max-age"
    ),
    ExitCode.USAGE: "usage or configuration error (bad arguments, or a setting of any source)",
    ExitCode.LOCKED: "another apptsync run holds the lock (try later, or --wait SECONDS)",
    ExitCode.INTERRUPTED: "interrupted",
}


def help_epilog() -> str:
    """The exit-code table for `apptsync --help`."""
    rows = [f"  {int(code):>3}  {meaning}" for code, meaning in MEANINGS.items()]
    return "exit codes:\n" + "\n".join(rows)


class _Outcome(Protocol):
    ok: bool
    config_error: bool


def sync_exit_code(results: Sequence[_Outcome]) -> ExitCode:
    """A setting to fix (in any source) wins over an outage: the next run cannot do better."""
    if any(r.config_error for r in results):
        return ExitCode.USAGE
    return ExitCode.OK if all(r.ok for r in results) else ExitCode.FAILED
