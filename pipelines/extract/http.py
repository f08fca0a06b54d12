"""One HTTP client for both APIs: auth hooks, retries, correlation ids, error messages.

Why one module: retry rules, error messages and secret handling must behave the same for
every source, so they live here once and the sources only describe their API. Auth schemes
send their own requests (a token fetch, a login) through `ApiClient.send`, so those follow
the same `RetryPolicy` as the pages.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Protocol

import httpx
import orjson

from pipelines.extract.budget import RequestBudget
from pipelines.extract.credentials import Credential, CredentialUses
from pipelines.extract.errors import ApiError, AuthError, InvalidBody, shown_url
from pipelines.extract.metrics import current_metrics
from pipelines.extract.retry import (
    MAX_RETRY_AFTER_SECONDS,
    RETRYABLE_STATUSES,
    GaveUp,
    Retryable,
    RetryPolicy,
    parse_retry_after,
)
from pipelines.redaction import get_logger, redactor

__all__ = [
    "MAX_RETRY_AFTER_SECONDS",
    "RETRYABLE_STATUSES",
    "ApiClient",
    "ApiError",
    "Auth",
    "AuthError",
    "GaveUp",
    "InvalidBody",
    "RetryPolicy",
    "default_error_message",
    "parse_retry_after",
]

# A request refused under a credential that another thread had already replaced is sent
# again under the newest one; this bounds how often, should credentials churn without end.
MAX_REPLACED_CREDENTIAL_RETRIES = 10
# Answers that say the URL names no endpoint: the setting it came from is what to fix.
NO_SUCH_ENDPOINT = frozenset({404, 405, 410})
# Refreshes of one request whose new credential worked for other requests before it too was
# refused: a credential revoked again, not a bad one.
MAX_REVOKED_CREDENTIAL_REFRESHES = 5

logger = get_logger("apptsync.http")


class _AuthExpired(Exception):
    """Internal signal: the credential was rejected. `counts` is False when the credential
    had been replaced since the request took it: then the refusal is not this request's."""

    def __init__(self, error: ApiError, counts: bool, generation: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.counts = counts
        self.generation = generation


class Auth(Protocol):
    """What the client needs from an authentication scheme."""

    def credential(self, client: ApiClient) -> Credential:
        """Headers carrying a valid credential, logging in or refreshing first if needed
        (through `client.send`, so the client's retry policy applies)."""

    def is_rejected(self, response: httpx.Response) -> bool:
        """Whether the response says the credential is invalid or expired."""

    def invalidate(self, credential: Credential) -> bool:
        """Forget `credential` if it is still the current one, so the next call gets a new
        one; False when it had already been replaced (the refusal then does not count)."""


class _NoCookies(DefaultCookiePolicy):
    """The client keeps no cookies: an auth scheme alone decides what a request carries."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False


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
        requests_per_minute: int | None = None,
        transport: httpx.BaseTransport | None = None,
        url_key: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.url_key = url_key  # the config key of base_url, named when nothing answers there
        self._shown_base = shown_url(self.base_url)
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self._uses = CredentialUses()
        self.error_message = error_message
        self.metrics = current_metrics()  # page threads do not inherit the run's context
        # Caps requests on the wire, not threads: a thread parsing a page holds no slot.
        self.budget = RequestBudget(requests_per_minute, max_in_flight)
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"Accept": "application/json", "User-Agent": "apptsync", **(headers or {})},
            cookies=CookieJar(_NoCookies()),
            follow_redirects=False,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()
        self.budget.close()

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
        is worth retrying; `parse` runs in the calling thread and may raise `InvalidBody`.

        A refused credential is refreshed once; a second refusal of a credential that is
        still current fails with `AuthError` — unless the refreshed one served other
        requests before it was refused (revoked again, not bad; bounded). A refusal under a
        credential that was replaced meanwhile (another thread refreshed it) is not counted:
        the request is sent again.
        """
        query = [(k, _param(v)) for k, v in (params or [])]
        rejections = replaced = revoked = 0
        while True:
            try:
                return self.retry.run(lambda: self._counted(path, query, parse))
            except _AuthExpired as expired:
                if not expired.counts and replaced < MAX_REPLACED_CREDENTIAL_RETRIES:
                    replaced += 1
                    logger.debug("refused under a replaced credential, sending again: %s", path)
                    continue
                rejections += 1
                if (
                    rejections > 1
                    and revoked < MAX_REVOKED_CREDENTIAL_REFRESHES
                    and self._uses.was_accepted(expired.generation)
                ):
                    # the refreshed credential served other requests, then was revoked too
                    revoked += 1
                    rejections = 1
                if rejections > 1 or self.auth is None:
                    raise AuthError(
                        f"credentials rejected twice: {expired.error.message}",
                        status=expired.error.status,
                        correlation_id=expired.error.correlation_id,
                        url=expired.error.url,
                    ) from None
                logger.warning("credential rejected, refreshing it once: %s", expired.error)

    def send(
        self,
        method: str,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        url_key: str | None = None,
    ) -> httpx.Response:
        """One request outside the paged API (a token fetch, a login), under the same retry
        policy: transport errors and retryable statuses are tried again (`Retry-After`
        wins), then `GaveUp`. With `url_key`, the config key `url` came from, a URL where
        nothing answers or that names no endpoint (404, 405, 410) fails naming that key;
        any other answer is returned for the caller to judge."""
        shown = shown_url(url)

        def attempt() -> httpx.Response:
            try:
                response = self._client.request(method, url, data=data)
            except httpx.TransportError as exc:
                error = ApiError(no_answer(method, shown, exc), url=shown, url_key=url_key)
                raise Retryable(error) from None
            if response.status_code in RETRYABLE_STATUSES:
                raise Retryable(
                    self._error(response, shown, method=method),
                    parse_retry_after(response.headers.get("Retry-After")),
                )
            return response

        response = self.retry.run(attempt)
        if url_key is not None and response.status_code in NO_SUCH_ENDPOINT:
            raise self._error(response, shown, method=method, url_key=url_key)
        return response

    def _counted(
        self, path: str, query: list[tuple[str, str]], parse: Callable[[bytes], Any]
    ) -> Any:
        """One attempt, counted for the run ledger: a request, and a retry if it failed so."""
        self.metrics.add_request()
        try:
            return self._attempt(path, query, parse)
        except Retryable:
            self.metrics.add_retry()
            raise

    def _attempt(
        self, path: str, query: list[tuple[str, str]], parse: Callable[[bytes], Any]
    ) -> Any:
        correlation_id = str(uuid.uuid4())
        shown = self._shown_base + _display_url(path, query)
        response, credential = self._get(f"{self.base_url}{path}", query, shown, correlation_id)
        accepted = False
        try:
            self._judge(response, credential, shown, correlation_id)
            accepted = True
        finally:
            if credential is not None:
                self._uses.answered(credential.generation, accepted=accepted)
        try:
            return parse(response.content)
        except (orjson.JSONDecodeError, InvalidBody):
            error = ApiError(
                f"response body of GET {shown} is not valid JSON",
                status=response.status_code,
                correlation_id=correlation_id,
                url=shown,
            )
            raise Retryable(error) from None

    def _get(
        self, url: str, query: list[tuple[str, str]], shown: str, correlation_id: str
    ) -> tuple[httpx.Response, Credential | None]:
        """Send one GET under the current credential, recorded as in flight until judged."""
        with self.budget.slot():
            # Taken inside the slot: a request waiting for one carries no credential that
            # could go stale while it waits.
            credential = self.auth.credential(self) if self.auth else None
            headers = {"X-Correlation-Id": correlation_id}
            if credential is not None:
                headers.update(credential.headers)
                self._uses.sent(credential.generation)
            try:
                return self._client.get(url, params=tuple(query), headers=headers), credential
            except httpx.TransportError as exc:
                if credential is not None:
                    self._uses.answered(credential.generation, accepted=False)
                error = ApiError(
                    no_answer("GET", shown, exc),
                    correlation_id=correlation_id,
                    url=shown,
                    url_key=self.url_key,
                )
                raise Retryable(error) from None

    def _judge(
        self,
        response: httpx.Response,
        credential: Credential | None,
        shown: str,
        correlation_id: str,
    ) -> None:
        """Raise what a failed answer means: a refused credential, a retry, or an error."""
        status = response.status_code
        if self.auth is not None and credential is not None and self.auth.is_rejected(response):
            counts = self.auth.invalidate(credential)
            error = self._error(response, shown, correlation_id)
            raise _AuthExpired(error, counts, credential.generation)
        if status in RETRYABLE_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if status == 429 and retry_after is not None:
                # The server's wish holds for every thread, not only this request.
                self.budget.pause(min(retry_after, MAX_RETRY_AFTER_SECONDS))
            raise Retryable(self._error(response, shown, correlation_id), retry_after)
        if status >= 300:
            error = self._error(response, shown, correlation_id)
            logger.error("%s", error)
            raise error

    def _error(
        self,
        response: httpx.Response,
        shown: str,
        correlation_id: str | None = None,
        *,
        method: str = "GET",
        url_key: str | None = None,
    ) -> ApiError:
        """The error of an answer that failed: the API's own message, redacted."""
        message = redactor.redact(self.error_message(response))
        return ApiError(
            f"{method} {shown} failed: {message}",
            status=response.status_code,
            correlation_id=correlation_id,
            url=shown,
            detail=message,
            url_key=url_key,
        )


def no_answer(method: str, shown: str, exc: httpx.TransportError) -> str:
    """A request that got no answer (refused, unknown host, timed out, reset), and why."""
    reason = redactor.redact(str(exc).strip())
    cause = f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
    return f"no answer from {method} {shown} ({cause})"


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _display_url(path: str, query: list[tuple[str, str]]) -> str:
    if not query:
        return path
    return path + "?" + "&".join(f"{k}={v}" for k, v in query)
