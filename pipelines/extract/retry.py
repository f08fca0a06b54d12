"""The one retry policy every request goes through: pages, token fetches and logins alike.

Why one: how often to try, how long to wait and when the server's `Retry-After` wins must
not depend on which request failed; a token endpoint that hiccups deserves the same patience
(and the same `max_attempts`) as a page.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from pipelines.extract.errors import ApiError
from pipelines.redaction import get_logger

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 120.0

logger = get_logger("apptsync.http")

T = TypeVar("T")


class Retryable(Exception):
    """This attempt failed but another may succeed; `retry_after` is the server's wish."""

    def __init__(self, error: ApiError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class GaveUp(ApiError):
    """Every attempt failed in a way worth retrying; `last` is the final attempt's error."""

    def __init__(self, attempts: int, last: ApiError) -> None:
        super().__init__(
            f"gave up after {attempts} attempts: {last.message}",
            status=last.status,
            correlation_id=last.correlation_id,
            url=last.url,
            detail=last.detail,
            url_key=last.url_key,
        )
        self.attempts = attempts
        self.last = last


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter; `Retry-After` wins when the server sends it."""

    max_attempts: int = 6
    initial_wait: float = 0.5
    max_wait: float = 30.0
    jitter: float | None = None  # default: as large as the first wait
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def run(self, attempt: Callable[[], T]) -> T:
        """`attempt()` until it returns, raises something other than `Retryable`, or has
        failed `max_attempts` times (then `GaveUp`, naming the last failure)."""
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self.wait,
            retry=retry_if_exception_type(Retryable),
            sleep=self.sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except Retryable as failed:
            raise GaveUp(self.max_attempts, failed.error) from None

    def wait(self, state: RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, Retryable) and error.retry_after is not None:
            return min(error.retry_after, MAX_RETRY_AFTER_SECONDS)
        backoff = wait_exponential_jitter(
            initial=self.initial_wait,
            max=self.max_wait,
            jitter=self.initial_wait if self.jitter is None else self.jitter,
        )
        return float(backoff(state))

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "attempt %d/%d failed, retrying in %.2fs: %s",
            state.attempt_number,
            self.max_attempts,
            wait,
            error,
        )
