"""Fault injection for the appointments endpoints.

Why: a sync is only as good as its behaviour on a bad day — rate limits, gateway errors,
half-sent bodies, dropped connections. Rates give realistic noise for benchmarks; `script`
gives tests exact, ordered outcomes; the concurrency limit mimics Pexip's per-IP cap of 4.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from random import Random
from typing import Any

# Kinds an outcome can have besides an HTTP error status.
BODY_FAULTS = ("malformed", "truncated", "reset")
SCRIPTABLE_STATUSES = (400, 403, 404, 409, 422, 429, 500, 502, 503)
Outcome = int | tuple[int, float] | str


@dataclass(frozen=True)
class Injected:
    """One fault to apply to a response: an error status, or a body/connection fault."""

    status: int | None = None  # an error status answered in the API's error format
    kind: str | None = None  # "malformed", "truncated" or "reset"
    retry_after: float | None = None  # Retry-After header of a 429


def _validate(outcome: Outcome) -> Outcome:
    if isinstance(outcome, tuple):
        if len(outcome) == 2 and outcome[0] == 429 and isinstance(outcome[1], int | float):
            return (429, float(outcome[1]))
    elif isinstance(outcome, str):
        if outcome in BODY_FAULTS:
            return outcome
    elif isinstance(outcome, int) and outcome in SCRIPTABLE_STATUSES:
        return outcome
    raise ValueError(f"unknown fault outcome {outcome!r}")


@dataclass
class Faults:
    """Mutable fault settings of one API; set attributes directly or via the admin route."""

    latency_ms: float = 0.0
    rate_429: float = 0.0
    retry_after: float | None = None
    rate_5xx: float = 0.0
    rate_malformed: float = 0.0
    rate_truncated: float = 0.0
    max_concurrent: int | None = None
    _seed: int = 0
    _rng: Random = field(default_factory=lambda: Random(0), repr=False)
    _script: deque[Outcome] = field(default_factory=deque, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def seed(self) -> int:
        return self._seed

    @seed.setter
    def seed(self, value: int) -> None:
        """Setting the seed restarts the fault RNG, so a fault sequence is reproducible."""
        with self._lock:
            self._seed = value
            self._rng = Random(value)

    def script(self, *outcomes: Outcome) -> None:
        """Queue exact outcomes for the next appointments requests, in order.

        Each is an error status (429, 500, 502, 503, 409, 400, 403, 404, 422), `(429,
        retry_after_seconds)`, "malformed" (200, invalid JSON), "truncated" (200, the
        connection closes after half the body) or "reset" (closed without an answer).
        """
        checked = [_validate(outcome) for outcome in outcomes]
        with self._lock:
            self._script.extend(checked)

    def pending(self) -> int:
        """Scripted outcomes not used yet."""
        with self._lock:
            return len(self._script)

    def clear(self) -> None:
        """Back to no faults (the concurrency limit is kept: it is the API's nature)."""
        with self._lock:
            self.latency_ms = 0.0
            self.rate_429 = self.rate_5xx = self.rate_malformed = self.rate_truncated = 0.0
            self.retry_after = None
            self._seed = 0
            self._rng = Random(0)
            self._script.clear()

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply a JSON object of settings (the admin route); unknown keys raise ValueError."""
        settings = dict(settings)
        if settings.pop("clear", False):
            self.clear()
        script = settings.pop("script", None)
        for name, value in settings.items():
            if name not in _SETTABLE:
                raise ValueError(f"unknown fault setting {name!r}")
            setattr(self, name, value)
        if script:
            self.script(*(tuple(item) if isinstance(item, list) else item for item in script))

    def snapshot(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _SETTABLE} | {"pending": self.pending()}

    def draw(self) -> Injected | None:
        """The fault for the next request: the next scripted outcome, else a random draw."""
        with self._lock:
            if self._script:
                outcome = self._script.popleft()
                if isinstance(outcome, tuple):
                    return Injected(status=429, retry_after=outcome[1])
                if isinstance(outcome, str):
                    return Injected(kind=outcome)
                return Injected(status=outcome, retry_after=self.retry_after)
            roll = self._rng.random()
            for rate, make in (
                (self.rate_429, lambda: Injected(status=429, retry_after=self.retry_after)),
                (self.rate_5xx, lambda: Injected(status=self._rng.choice((500, 502, 503)))),
                (self.rate_malformed, lambda: Injected(kind="malformed")),
                (self.rate_truncated, lambda: Injected(kind="truncated")),
            ):
                if roll < rate:
                    return make()
                roll -= rate
            return None


_SETTABLE = (
    "latency_ms",
    "rate_429",
    "retry_after",
    "rate_5xx",
    "rate_malformed",
    "rate_truncated",
    "max_concurrent",
    "seed",
)
