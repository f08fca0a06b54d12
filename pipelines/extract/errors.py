"""The errors a request can end in, shared by the client, the retry policy and the sources."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from pipelines.config import env_name


class ApiError(RuntimeError):
    """A request that failed for good: carries what support needs, never a secret.

    `url_key` is the config key the request's URL came from (`sources.<name>.base_url`),
    set when that setting is the likely fix (nothing answered there, or no such endpoint);
    the message then ends by naming it and its environment variable."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        correlation_id: str | None = None,
        url: str | None = None,
        detail: str | None = None,
        url_key: str | None = None,
    ) -> None:
        self.message = message  # without the details, to restate it in a wrapping error
        self.status = status
        self.correlation_id = correlation_id
        self.url = url
        self.detail = detail  # the API's own error text, when it sent one
        self.url_key = url_key
        details = [f"status {status}" if status is not None else None]
        if url and url not in message:
            details.append(f"url {url}")
        if correlation_id:
            details.append(f"X-Correlation-Id {correlation_id}")
        suffix = ", ".join(d for d in details if d)
        text = f"{message} ({suffix})" if suffix else message
        if url_key:
            text += f"; check config key '{url_key}' ({env_name(url_key)})"
        super().__init__(text)

    def restated(self, context: str) -> ApiError:
        """This failure as the step it broke (a token fetch, a login) tells it: `context`
        before the message, the same status, URL and config key."""
        return ApiError(
            f"{context}: {self.message}", status=self.status, url=self.url, url_key=self.url_key
        )


class AuthError(ApiError):
    """Credentials were refused: retrying cannot help."""


class InvalidBody(ValueError):
    """A body that is not the JSON it should be (cut off, garbled): worth another try."""


def shown_url(url: str) -> str:
    """`url` as an error shows it: scheme, host, port and path. A configured URL may carry
    a user and password or a token in its query; neither belongs in a log or the ledger."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    try:
        port = parts.port
    except ValueError:  # not a number: show none rather than fail while reporting
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
