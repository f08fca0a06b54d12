"""Freshness: fail when a source's last good sync is older than allowed.

Why from the ledger: a source that silently stopped syncing (a cron line removed, a job that
hangs before it writes) leaves no failed run behind; only the age of its last *ok* run in
`ops.sync_runs` shows it. `apptsync check --max-age 30m` (or `checks.max_age`) turns that age
into an exit code a monitor can alert on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt

from pipelines.config import ConfigError
from pipelines.ops.ledger import last_ok_runs

MAX_AGE_KEY = "checks.max_age"
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)", re.IGNORECASE)
_UNITS = {"d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str) -> timedelta:
    """`30m`, `2h`, `1h30m`, `90s`, `1d` or plain seconds (`1800`); ValueError otherwise."""
    cleaned = str(text).strip().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        seconds = float(cleaned)
    elif cleaned and re.fullmatch(f"(?:{_PART.pattern})+", cleaned, re.IGNORECASE):
        seconds = sum(float(n) * _UNITS[u.lower()] for n, u in _PART.findall(cleaned))
    else:
        raise ValueError(f"not a duration such as 30m, 2h or 1h30m: {text!r}")
    if seconds <= 0:
        raise ValueError(f"not a positive duration: {text!r}")
    return timedelta(seconds=seconds)


def configured_max_age() -> timedelta | None:
    """`checks.max_age` (environment `CHECKS__MAX_AGE`), or None when it is not set."""
    value: Any = dlt.config.get(MAX_AGE_KEY)
    if value is None or str(value).strip() == "":
        return None
    try:
        return parse_duration(str(value))
    except ValueError as exc:
        raise ConfigError(MAX_AGE_KEY, f"is {exc}") from None


@dataclass(frozen=True)
class Staleness:
    """A source whose last ok run is too old (or that never had one)."""

    source: str
    last_ok: datetime | None
    age: timedelta | None

    def describe(self, max_age: timedelta) -> str:
        if self.last_ok is None or self.age is None:
            return f"STALE {self.source}: no ok run in the ledger (max age {_short(max_age)})"
        return (
            f"STALE {self.source}: last ok run {_short(self.age)} ago, at "
            f"{self.last_ok.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z (max age {_short(max_age)})"
        )


def stale_sources(
    sources: Sequence[str], max_age: timedelta, now: datetime | None = None
) -> list[Staleness]:
    """Every source whose last ok run is older than `max_age`, in the given order."""
    now = now or datetime.now(UTC)
    stale = []
    for source, last_ok in last_ok_runs(sources).items():
        age = None if last_ok is None else now - last_ok
        if age is None or age > max_age:
            stale.append(Staleness(source, last_ok, age))
    return stale


def freshness_report(sources: Sequence[str], max_age: timedelta | None) -> list[str]:
    """One `STALE ...` line per source older than `max_age`; none without a max age."""
    if max_age is None:
        return []
    return [stale.describe(max_age) for stale in stale_sources(sources, max_age)]


def _short(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
