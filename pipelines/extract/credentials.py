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
