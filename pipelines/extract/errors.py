"""The errors a request can end in, shared by the client, the retry policy and the sources."""

from __future__ import annotations


class ApiError(RuntimeError):
    """A request that failed for good: carries what support needs, never a secret."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        correlation_id: str | None = None,
        url: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.message = message  # without the details, to restate it in a wrapping error
        self.status = status
        self.correlation_id = correlation_id
        self.url = url
        self.detail = detail  # the API's own error text, when it sent one
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
