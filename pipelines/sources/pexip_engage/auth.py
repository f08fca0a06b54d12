"""Pexip Engage auth: an OAuth2 client-credentials token, cached and refreshed."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

import httpx
import orjson
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from pipelines.extract.http import AuthError, default_error_message
from pipelines.redaction import get_logger, redactor
from pipelines.sources.pexip_engage.settings import TOKEN_REFRESH_MARGIN_SECONDS

logger = get_logger("apptsync.pexip_engage")


class ClientCredentialsAuth:
    """OAuth2 client-credentials token, cached and refreshed before it expires."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_margin: float = TOKEN_REFRESH_MARGIN_SECONDS,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.refresh_margin = refresh_margin
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        redactor.add(client_secret)

    def headers(self, client: httpx.Client) -> dict[str, str]:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at - self.refresh_margin:
                self._fetch(client)
            return {"Authorization": f"Bearer {self._token}"}

    def is_rejected(self, response: httpx.Response) -> bool:
        return response.status_code == 401

    def invalidate(self, rejected_headers: Mapping[str, str]) -> None:
        with self._lock:
            if rejected_headers.get("Authorization") == f"Bearer {self._token}":
                self._token = None

    def _fetch(self, client: httpx.Client) -> None:
        retrying = Retrying(
            stop=stop_after_attempt(4),
            wait=wait_exponential_jitter(initial=0.5, max=10),
            retry=retry_if_exception_type(httpx.TransportError),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                response = client.post(
                    self.token_url,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self.client_id,
                        "client_secret": self._secret,
                    },
                    headers={"Accept": "application/json"},
                )
                if response.status_code >= 500:
                    raise httpx.TransportError(f"token endpoint answered {response.status_code}")
        if response.status_code != 200:
            message = redactor.redact(default_error_message(response))
            raise AuthError(
                f"Pexip Engage refused the client credentials of client_id "
                f"'{self.client_id}': {message}",
                status=response.status_code,
                url=self.token_url,
            )
        body = orjson.loads(response.content)
        self._token = str(body["access_token"])
        redactor.add(self._token)
        self._expires_at = time.monotonic() + float(body.get("expires_in") or 300)
