"""Valomnia auth: the Spring-Security form login, its JSESSIONID kept per request."""

from __future__ import annotations

import contextlib
import math
import re
from urllib.parse import urljoin, urlparse

import httpx
import orjson

from pipelines.extract.credentials import Credential, SharedCredential
from pipelines.extract.errors import shown_url
from pipelines.extract.http import ApiClient, ApiError, AuthError, GaveUp, default_error_message
from pipelines.redaction import get_logger, redactor
from pipelines.sources.valomnia.settings import (
    KEY,
    LOGIN_PATH,
    LOGIN_SUCCESS_PATH,
    SESSION_COOKIE,
)

logger = get_logger("apptsync.valomnia")

_LOGIN_PAGE = re.compile(r"(^|/)(login|j_spring_security_check)(/|$)")


class SessionAuth:
    """Spring-Security form login; the JSESSIONID is kept here and sent as a Cookie header.

    The API client keeps no cookies: this object alone decides which session a request
    carries, and numbers each session, so a refusal under a session another thread has
    already replaced is told apart from a refusal of the current one. The login goes
    through the client's `send`, retried like a page (`Retry-After` included).
    """

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self._session = SharedCredential()
        self.logins = 0
        redactor.add(password)

    def credential(self, client: ApiClient) -> Credential:
        session, generation = self._session.get(lambda: (self._login(client), math.inf))
        return Credential({"Cookie": f"{SESSION_COOKIE}={session}"}, generation)

    def is_rejected(self, response: httpx.Response) -> bool:
        """A 401, or a redirect to the login page (Spring's answer to an expired session)."""
        if response.status_code == 401:
            return True
        return response.is_redirect and is_login_location(response.headers.get("Location", ""))

    def invalidate(self, credential: Credential) -> bool:
        return self._session.invalidate(credential.generation)

    def _login(self, client: ApiClient) -> str:
        url = self.base_url + LOGIN_PATH
        form = {"j_username": self.username, "j_password": self._password, "ajax": "true"}
        try:
            # a tenant URL where nothing answers, or without a login page, fails naming the key
            response = client.send("POST", url, data=form, url_key=f"{KEY}.base_url")
        except GaveUp as failed:
            raise failed.restated("cannot log in to Valomnia") from None
        token = response.cookies.get(SESSION_COOKIE)
        location = response.headers.get("Location", "") if response.is_redirect else ""
        if not _is_success_location(location):
            raise self._refused(client, response, url)
        if not token:
            token = self._token_from_success_page(client, location)
        redactor.add(token)
        self.logins += 1
        logger.info("logged in to Valomnia as %s", self.username)
        return token

    def _token_from_success_page(self, client: ApiClient, location: str) -> str:
        """No cookie on the redirect: `/login/ajaxSuccess` answers `{success, token, user}`."""
        response = client.send("GET", urljoin(self.base_url + "/", location))
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

    def _refused(self, client: ApiClient, response: httpx.Response, url: str) -> AuthError:
        detail = redactor.redact(default_error_message(response))
        location = response.headers.get("Location") if response.is_redirect else None
        if location:
            # Spring answers wrong credentials with a redirect to /login/authfail?ajax=true,
            # whose JSON says why; fall back to naming the redirect.
            detail = f"redirected to {location}"
            with contextlib.suppress(ApiError):  # only the explanation is lost
                failure = client.send("GET", urljoin(self.base_url + "/", location))
                if failure.headers.get("Content-Type", "").startswith("application/json"):
                    detail = redactor.redact(default_error_message(failure))
        return AuthError(
            f"Valomnia refused the login of '{self.username}' ({detail}); check config keys "
            f"'{KEY}.username' and '{KEY}.password'",
            status=response.status_code,
            url=shown_url(url),
        )


def is_login_location(location: str) -> bool:
    """Whether a redirect points at the login page (but not at the login's success page)."""
    path = urlparse(location).path
    return bool(_LOGIN_PAGE.search(path)) and not _is_success_location(location)


def _is_success_location(location: str) -> bool:
    return urlparse(location).path.rstrip("/").endswith(LOGIN_SUCCESS_PATH)
