"""Pexip Engage auth: an OAuth2 client-credentials token, cached and refreshed."""

from __future__ import annotations

import httpx
import orjson

from pipelines.extract.credentials import Credential, SharedCredential
from pipelines.extract.errors import shown_url
from pipelines.extract.http import ApiClient, AuthError, GaveUp, default_error_message
from pipelines.redaction import get_logger, redactor
from pipelines.sources.pexip_engage.settings import KEY, TOKEN_REFRESH_MARGIN_SECONDS

logger = get_logger("apptsync.pexip_engage")


class ClientCredentialsAuth:
    """OAuth2 client-credentials token, shared by every page thread and refreshed shortly
    before it expires or once it is refused.

    The token request goes through the API client's `send`, so it is retried exactly like a
    page (same `max_attempts`, backoff and `Retry-After` rule, same log line).
    """

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
        self._token = SharedCredential()
        redactor.add(client_secret)

    def credential(self, client: ApiClient) -> Credential:
        token, generation = self._token.get(lambda: self._fetch(client))
        return Credential({"Authorization": f"Bearer {token}"}, generation)

    def is_rejected(self, response: httpx.Response) -> bool:
        return response.status_code == 401

    def invalidate(self, credential: Credential) -> bool:
        return self._token.invalidate(credential.generation)

    def _fetch(self, client: ApiClient) -> tuple[str, float]:
        """A new token and how long to use it (its lifetime less the refresh margin)."""
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret,
        }
        try:
            # a token URL where nothing answers, or that is no endpoint, fails naming the key
            response = client.send("POST", self.token_url, data=form, url_key=f"{KEY}.token_url")
        except GaveUp as failed:
            raise failed.restated("cannot get a Pexip Engage token") from None
        if response.status_code != 200:
            message = redactor.redact(default_error_message(response))
            raise AuthError(
                f"Pexip Engage refused the client credentials of client_id "
                f"'{self.client_id}': {message}",
                status=response.status_code,
                url=shown_url(self.token_url),
            )
        body = orjson.loads(response.content)
        token = str(body["access_token"])
        redactor.add(token)
        lifetime = float(body.get("expires_in") or 300)
        return token, max(lifetime - self.refresh_margin, 0.0)
