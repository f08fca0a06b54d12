"""Requests, responses and each API's error format.

Why here: the route modules stay about API behaviour, and every error of one API (real or
injected) has exactly the same shape, as a sync's error handling will expect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

import orjson

JSON = "application/json"
PEXIP_JSON = "application/json; charset=utf-8"


@dataclass
class Request:
    """What a route sees of an HTTP request (headers are looked up case-insensitively)."""

    method: str
    path: str
    query: str
    headers: Any  # http.client.HTTPMessage: a case-insensitive mapping
    body: bytes = b""

    def params(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query, keep_blank_values=True)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def cookie(self, name: str) -> str | None:
        raw = self.headers.get("Cookie")
        if not raw:
            return None
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw)
        except CookieError:
            return None
        morsel = jar.get(name)
        return morsel.value if morsel is not None else None


@dataclass
class Response:
    """An answer; `fault` is "truncated" or "reset" for connection-level misbehaviour."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    fault: str | None = None


def json_response(
    status: int,
    payload: Any,
    *,
    content_type: str = JSON,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    pairs = [("Content-Type", content_type), *(headers or {}).items()]
    return Response(status, body, pairs)


_PEXIP_ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("BAD_REQUEST", "VALIDATION_ERROR", "The request is malformed"),
    401: (
        "UNAUTHORIZED",
        "AUTHENTICATION_ERROR",
        "The access token is missing, invalid or expired",
    ),
    403: ("FORBIDDEN", "AUTHORIZATION_ERROR", "The access token lacks the required scope"),
    404: ("NOT_FOUND", "NOT_FOUND_ERROR", "Resource not found"),
    405: ("METHOD_NOT_ALLOWED", "NOT_FOUND_ERROR", "Method not allowed"),
    409: ("CONFLICT", "CONFLICT_ERROR", "The resource was modified concurrently, try again"),
    422: ("UNPROCESSABLE_ENTITY", "VALIDATION_ERROR", "The request could not be processed"),
    429: ("TOO_MANY_REQUESTS", "RATE_LIMIT_ERROR", "Too many requests"),
    500: ("INTERNAL_SERVER_ERROR", "SERVER_ERROR", "Internal server error"),
    502: ("BAD_GATEWAY", "SERVER_ERROR", "Bad gateway"),
    503: ("SERVICE_UNAVAILABLE", "SERVER_ERROR", "Service unavailable"),
}


def retry_after_header(seconds: float | None) -> dict[str, str]:
    """`Retry-After` in delta-seconds; fractions are kept so tests can wait briefly."""
    if seconds is None:
        return {}
    value = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
    return {"Retry-After": value}


def pexip_error(
    status: int,
    message: str | None = None,
    *,
    arguments: Mapping[str, Any] | None = None,
    retry_after: float | None = None,
) -> Response:
    """`{"errors":[{"message","code","type","statusCode","arguments"?}]}` like Pexip Engage."""
    code, kind, default = _PEXIP_ERRORS.get(status, ("ERROR", "SERVER_ERROR", "Error"))
    error: dict[str, Any] = {
        "message": message or default,
        "code": code,
        "type": kind,
        "statusCode": status,
    }
    if arguments:
        error["arguments"] = dict(arguments)
    return json_response(
        status,
        {"errors": [error]},
        content_type=PEXIP_JSON,
        headers=retry_after_header(retry_after) if status == 429 else None,
    )


_VALOMNIA_ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "The request is not valid."),
    401: ("unauthorized", "Full authentication is required to access this resource."),
    403: ("access_denied", "Access is denied."),
    404: ("not_found", "The requested resource was not found."),
    409: ("conflict", "The resource was modified concurrently."),
    422: ("unprocessable_entity", "The request could not be processed."),
    429: ("too_many_requests", "Too many requests, slow down."),
    500: ("server_error", "Oops! Something went wrong..."),
    502: ("bad_gateway", "Bad gateway."),
    503: ("service_unavailable", "Service temporarily unavailable."),
}


def valomnia_error(
    status: int,
    error: str | None = None,
    description: str | None = None,
    *,
    retry_after: float | None = None,
) -> Response:
    """`{"error","error_description"}` like Valomnia's reference page."""
    default_error, default_description = _VALOMNIA_ERRORS.get(status, ("server_error", "Error"))
    return json_response(
        status,
        {"error": error or default_error, "error_description": description or default_description},
        headers=retry_after_header(retry_after) if status == 429 else None,
    )
