"""One credential shared by every page thread, numbered so a rejection can be judged fairly.

Why a generation number: requests run on several threads and may wait behind the in-flight
limit. When one of them is refused, the credential it carried may already have been replaced
by another thread. That refusal says nothing about the newest credential, so it must not
count towards "rejected twice": the request is simply sent again under the newest one.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Obtain = Callable[[], tuple[str, float]]  # a new secret value, and seconds it may be used


@dataclass(frozen=True)
class Credential:
    """What one request carries: its auth headers and the generation they belong to."""

    headers: Mapping[str, str]
    generation: int


class SharedCredential:
    """A secret value obtained once, used by all threads until it expires or is refused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: str | None = None
        self._usable_until = math.inf
        self._generation = 0

    def get(self, obtain: Obtain) -> tuple[str, int]:
        """The current value and its generation, obtaining a new one first if there is none
        or it is about to expire (one thread obtains it; the others wait for it)."""
        with self._lock:
            if self._value is None or time.monotonic() >= self._usable_until:
                value, lifetime = obtain()
                self._value, self._usable_until = value, time.monotonic() + lifetime
                self._generation += 1
            return self._value, self._generation

    def invalidate(self, generation: int) -> bool:
        """Forget the value of `generation` if it is still current; True when it was (the
        refusal counts), False when it had already been dropped or replaced (it does not)."""
        with self._lock:
            if generation != self._generation or self._value is None:
                return False
            self._value = None
            return True


class CredentialUses:
    """Which credential generations the API accepted, learnt only once their requests settle.

    Why wait: when a refreshed credential is refused, "was it revoked again or is it bad?" is
    answered by whether it served any other request. A request it served may still be on its
    way back on another thread, so the answer is read only after every request that carried
    that generation has had its answer judged; otherwise the same scan fails or passes by luck.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._in_flight: dict[int, int] = {}
        self._accepted: set[int] = set()

    def sent(self, generation: int) -> None:
        """A request carrying `generation` is on the wire."""
        with self._changed:
            self._in_flight[generation] = self._in_flight.get(generation, 0) + 1

    def answered(self, generation: int, *, accepted: bool) -> None:
        """That request's answer is judged (or it got none): `accepted` when the API took it."""
        with self._changed:
            self._in_flight[generation] -= 1
            if accepted:
                self._accepted.add(generation)
            self._changed.notify_all()

    def was_accepted(self, generation: int) -> bool:
        """Whether any request under `generation` was accepted, once none is still in flight."""
        with self._changed:
            self._changed.wait_for(lambda: self._in_flight.get(generation, 0) == 0)
            return generation in self._accepted
