"""One HTTP client for both APIs: auth hooks, retries, correlation ids, redaction.

Why one module: retry rules, error messages and secret handling must behave the same for
every source, so they live here once and the sources only describe their API.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import orjson
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from pipelines.redaction import get_logger, redactor

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 120.0


class ApiError(RuntimeError):
    """A request that failed for good: carries what support needs, never a secret."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        correlation_id: str | None = None,
        url: str | None = None,
    ) -> None:
        self.status = status
        self.correlation_id = correlation_id
        self.url = url
        details = [f"status {status}" if status is not None else None]
        if url:
            details.append(f"url {url}")
        if correlation_id:
            details.append(f"X-Correlation-Id {correlation_id}")
        suffix = ", ".join(d for d in details if d)
        super().__init__(f"{message} ({suffix})" if suffix else message)


class AuthError(ApiError):
    """Credentials were refused: retrying cannot help."""


class InvalidBody(ValueError):
    """A body that is not the JSON it should be (cut off, garbled): worth another try."""


class _Retryable(Exception):
    """Internal signal for tenacity: this attempt failed but another may succeed."""

    def __init__(self, error: ApiError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class _AuthExpired(Exception):
    """Internal signal: the credential was rejected; refresh it once and try again."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(str(error))
        self.error = error


class Auth(Protocol):
    """What the client needs from an authentication scheme."""

    def headers(self, client: httpx.Client) -> dict[str, str]:
        """Headers carrying a valid credential, logging in or refreshing first if needed."""

    def is_rejected(self, response: httpx.Response) -> bool:
        """Whether the response says the credential is invalid or expired."""

    def invalidate(self, rejected_headers: Mapping[str, str]) -> None:
        """Forget the credential that was rejected, so the next call gets a new one."""


logger = get_logger("apptsync.http")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

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

    def wait(self, state: RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, _Retryable) and error.retry_after is not None:
            return min(error.retry_after, MAX_RETRY_AFTER_SECONDS)
        backoff = wait_exponential_jitter(
            initial=self.initial_wait,
            max=self.max_wait,
            jitter=self.initial_wait if self.jitter is None else self.jitter,
        )
        return float(backoff(state))


ErrorParser = Callable[[httpx.Response], str]


def default_error_message(response: httpx.Response) -> str:
    """The API's own error text, whichever of the two error formats it uses."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        text = response.text.strip()
        return text[:200] if text else response.reason_phrase
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            code = first.get("code")
            return f"{first.get('message')}" + (f" [{code}]" if code else "")
        if "error" in body:
            description = body.get("error_description")
            return f"{body['error']}: {description}" if description else str(body["error"])
    return str(body)[:200]


class ApiClient:
    """A thread-safe JSON client with retries, auth refresh and a correlation id per request."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        error_message: ErrorParser = default_error_message,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 8,
        max_in_flight: int | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self.error_message = error_message
        # Caps requests on the wire, not threads: a thread parsing a page holds no slot.
        self._in_flight = threading.BoundedSemaphore(max_in_flight) if max_in_flight else None
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"Accept": "application/json", "User-Agent": "apptsync", **(headers or {})},
            follow_redirects=False,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_json(
        self,
        path: str,
        params: Iterable[tuple[str, Any]] | None = None,
        parse: Callable[[bytes], Any] = orjson.loads,
    ) -> Any:
        """GET `path` and return its body parsed by `parse` (JSON by default), retrying what
        is worth retrying; `parse` runs in the calling thread and may raise `InvalidBody`."""
        query = [(k, _param(v)) for k, v in (params or [])]
        refreshed = False
        while True:
            try:
                return self._with_retries(path, query, parse)
            except _AuthExpired as expired:
                if refreshed or self.auth is None:
                    raise AuthError(
                        f"credentials rejected twice: {expired.error.args[0]}",
                        status=expired.error.status,
                        correlation_id=expired.error.correlation_id,
                        url=expired.error.url,
                    ) from None
                refreshed = True
                logger.warning("credential rejected, refreshing it once: %s", expired.error)

    def _with_retries(
        self, path: str, query: list[tuple[str, str]], parse: Callable[[bytes], Any]
    ) -> Any:
        retrying = Retrying(
            stop=stop_after_attempt(self.retry.max_attempts),
            wait=self.retry.wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self.retry.sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(path, query, parse)
        except _Retryable as failed:
            raise ApiError(
                f"gave up after {self.retry.max_attempts} attempts: {failed.error.args[0]}",
                status=failed.error.status,
                correlation_id=failed.error.correlation_id,
                url=failed.error.url,
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self, path: str, query: list[tuple[str, str]], parse: Callable[[bytes], Any]
    ) -> Any:
        correlation_id = str(uuid.uuid4())
        headers = {"X-Correlation-Id": correlation_id}
        auth_headers = self.auth.headers(self._client) if self.auth else {}
        headers.update(auth_headers)
        url = f"{self.base_url}{path}"
        shown = _display_url(path, query)
        try:
            if self._in_flight is None:
                response = self._client.get(url, params=query, headers=headers)
            else:
                with self._in_flight:
                    response = self._client.get(url, params=query, headers=headers)
        except httpx.TransportError as exc:
            error = ApiError(
                f"{type(exc).__name__} on GET {shown}", correlation_id=correlation_id, url=shown
            )
            raise _Retryable(error) from None
        status = response.status_code
        if self.auth is not None and self.auth.is_rejected(response):
            self.auth.invalidate(auth_headers)
            raise _AuthExpired(self._error(response, shown, correlation_id))
        if status in RETRYABLE_STATUSES:
            raise _Retryable(
                self._error(response, shown, correlation_id),
                parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 300:
            error = self._error(response, shown, correlation_id)
            logger.error("%s", error)
            raise error
        try:
            return parse(response.content)
        except (orjson.JSONDecodeError, InvalidBody):
            error = ApiError(
                f"response body of GET {shown} is not valid JSON",
                status=status,
                correlation_id=correlation_id,
                url=shown,
            )
            raise _Retryable(error) from None

    def _error(self, response: httpx.Response, shown: str, correlation_id: str) -> ApiError:
        message = redactor.redact(self.error_message(response))
        return ApiError(
            f"GET {shown} failed: {message}",
            status=response.status_code,
            correlation_id=correlation_id,
            url=shown,
        )

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "attempt %d/%d failed, retrying in %.2fs: %s",
            state.attempt_number,
            self.retry.max_attempts,
            wait,
            error,
        )


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _display_url(path: str, query: list[tuple[str, str]]) -> str:
    if not query:
        return path
    return path + "?" + "&".join(f"{k}={v}" for k, v in query)
