"""Valomnia auth: the Spring-Security form login, its JSESSIONID kept per request."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from urllib.parse import urljoin, urlparse

import httpx
import orjson
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from pipelines.extract.http import (
    MAX_RETRY_AFTER_SECONDS,
    RETRYABLE_STATUSES,
    ApiError,
    AuthError,
    default_error_message,
    parse_retry_after,
)
from pipelines.redaction import get_logger, redactor
from pipelines.sources.valomnia.settings import (
    KEY,
    LOGIN_PATH,
    LOGIN_SUCCESS_PATH,
    SESSION_COOKIE,
)

logger = get_logger("apptsync.valomnia")

_LOGIN_PAGE = re.compile(r"(^|/)(login|j_spring_security_check)(/|$)")


class _LoginUnavailable(Exception):
    """Internal signal: the login endpoint failed in a way another attempt may fix."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SessionAuth:
    """Spring-Security form login; the JSESSIONID is kept here and sent as a Cookie header.

    The cookie is not left in the HTTP client's jar: this object alone decides which session
    a request carries, so `invalidate` can tell a stale session from a fresh one even when
    requests run on several threads.
    """

    def __init__(self, base_url: str, username: str, password: str, max_attempts: int = 4) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self.max_attempts = max_attempts
        self._session: str | None = None
        self._lock = threading.Lock()
        self.logins = 0
        redactor.add(password)

    def headers(self, client: httpx.Client) -> dict[str, str]:
        with self._lock:
            if self._session is None:
                self._session = self._login(client)
                self.logins += 1
            return {"Cookie": f"{SESSION_COOKIE}={self._session}"}

    def is_rejected(self, response: httpx.Response) -> bool:
        """A 401, or a redirect to the login page (Spring's answer to an expired session)."""
        if response.status_code == 401:
            return True
        return response.is_redirect and is_login_location(response.headers.get("Location", ""))

    def invalidate(self, rejected_headers: Mapping[str, str]) -> None:
        with self._lock:
            if rejected_headers.get("Cookie") == f"{SESSION_COOKIE}={self._session}":
                self._session = None

    def _login(self, client: httpx.Client) -> str:
        url = self.base_url + LOGIN_PATH
        try:
            response = self._post_login(client, url)
            problem = None
        except (httpx.TransportError, _LoginUnavailable) as exc:
            problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if problem is not None:  # raised outside the except: this is the message to read
            raise ApiError(
                f"cannot log in to Valomnia at {self.base_url} after {self.max_attempts} "
                f"attempts ({problem}); check config key '{KEY}.base_url'",
                url=LOGIN_PATH,
            )
        token = response.cookies.get(SESSION_COOKIE)
        # The session lives in this object, not in the client's shared cookie jar.
        client.cookies.delete(SESSION_COOKIE)
        location = response.headers.get("Location", "") if response.is_redirect else ""
        if not _is_success_location(location):
            raise self._refused(client, response, url)
        if not token:
            token = self._token_from_success_page(client, location)
        redactor.add(token)
        logger.info("logged in to Valomnia as %s", self.username)
        return token

    def _post_login(self, client: httpx.Client, url: str) -> httpx.Response:
        """The form post, retried on transport errors, 429 (honouring Retry-After) and 5xx."""

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, _LoginUnavailable) and error.retry_after is not None:
                return min(error.retry_after, MAX_RETRY_AFTER_SECONDS)
            return float(wait_exponential_jitter(initial=0.5, max=10)(state))

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait,
            retry=retry_if_exception_type((httpx.TransportError, _LoginUnavailable)),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                response = client.post(
                    url,
                    data={
                        "j_username": self.username,
                        "j_password": self._password,
                        "ajax": "true",
                    },
                    headers={"Accept": "application/json"},
                )
                if response.status_code in RETRYABLE_STATUSES:
                    raise _LoginUnavailable(
                        f"login answered {response.status_code}",
                        parse_retry_after(response.headers.get("Retry-After")),
                    )
        return response

    def _token_from_success_page(self, client: httpx.Client, location: str) -> str:
        """No cookie on the redirect: `/login/ajaxSuccess` answers `{success, token, user}`."""
        response = client.get(
            urljoin(self.base_url + "/", location), headers={"Accept": "application/json"}
        )
        client.cookies.delete(SESSION_COOKIE)
        token = response.cookies.get(SESSION_COOKIE)
        if token:
            return token
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict) and body.get("success") and isinstance(body.get("token"), str):
            return str(body["token"])
        raise AuthError(
            f"Valomnia accepted the login of '{self.username}' but sent no {SESSION_COOKIE} "
            "session cookie or token",
            status=response.status_code,
            url=LOGIN_SUCCESS_PATH,
        )

    def _refused(self, client: httpx.Client, response: httpx.Response, url: str) -> AuthError:
        detail = redactor.redact(default_error_message(response))
        location = response.headers.get("Location") if response.is_redirect else None
        if location:
            # Spring answers wrong credentials with a redirect to /login/authfail?ajax=true,
            # whose JSON says why; fall back to naming the redirect.
            detail = f"redirected to {location}"
            try:
                failure = client.get(
                    urljoin(self.base_url + "/", location), headers={"Accept": "application/json"}
                )
                if failure.headers.get("Content-Type", "").startswith("application/json"):
                    detail = redactor.redact(default_error_message(failure))
            except httpx.HTTPError:
                pass
        return AuthError(
            f"Valomnia refused the login of '{self.username}' ({detail}); check config keys "
            f"'{KEY}.username' and '{KEY}.password'",
            status=response.status_code,
            url=urlparse(url).path,
        )


def is_login_location(location: str) -> bool:
    """Whether a redirect points at the login page (but not at the login's success page)."""
    path = urlparse(location).path
    return bool(_LOGIN_PAGE.search(path)) and not _is_success_location(location)


def _is_success_location(location: str) -> bool:
    return urlparse(location).path.rstrip("/").endswith(LOGIN_SUCCESS_PATH)
