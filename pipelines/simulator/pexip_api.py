"""Pexip Engage routes: the Keycloak token endpoint and `GET /appointments`.

Why this strict: the real API validates its query string against an OpenAPI document —
unknown parameters, plain `status=X` for an array filter, unknown enum values and bad
dates are 400s — so a sync that passes here sends requests the real API accepts.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections import defaultdict
from urllib.parse import unquote

import orjson

from .data import parse_iso_ms
from .messages import PEXIP_JSON, Request, Response, json_response, pexip_error
from .queries import PEXIP_ARRAY_FILTERS, PexipQuery
from .settings import Settings
from .stores import PexipStore

SCOPE = "engage:appointments:readOnly"
ENUMS = {
    "meeting-type": frozenset({"OFFICE", "ON_LOCATION", "PHONE", "VIDEO"}),
    "status": frozenset(
        {
            "ACCEPTED",
            "ALTERNATIVE_DATE_REQUESTED",
            "CANCELLED",
            "COMPLETED",
            "INCOMING_REQUEST",
            "NO_SHOW",
            "OUTGOING_INVITE",
        }
    ),
}
DEFAULT_LIMIT = 25


class BadRequest(Exception):
    """A query the real API would reject with 400; carries the offending parameter."""

    def __init__(self, message: str, parameter: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class Tokens:
    """Issued bearer tokens and their wall-clock expiry."""

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, client_id: str) -> str:
        now = time.time()
        claims = {"azp": client_id, "iat": int(now), "exp": int(now + self._ttl), "scope": SCOPE}
        parts = [
            {"alg": "RS256", "typ": "JWT"},
            claims | {"jti": secrets.token_hex(8)},
        ]
        encoded = [base64.urlsafe_b64encode(orjson.dumps(p)).rstrip(b"=").decode() for p in parts]
        token = ".".join([*encoded, secrets.token_urlsafe(32)])
        with self._lock:
            self._expiry[token] = now + self._ttl
        return token

    def valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._expiry.get(token)
        return expiry is not None and time.time() < expiry

    def expire_all(self) -> None:
        with self._lock:
            self._expiry.clear()


class PexipApi:
    def __init__(self, store: PexipStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.tokens = Tokens(settings.token_ttl_seconds)

    def token(self, request: Request, realm: str) -> Response:
        """`POST /realms/{realm}/protocol/openid-connect/token` (client credentials)."""
        if realm != self.settings.enterprise:
            return json_response(
                404, {"error": "Realm does not exist", "error_description": "Realm does not exist"}
            )
        form = request.form()
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = _basic_credentials(request.header("Authorization"))
        if basic is not None:
            client_id, client_secret = basic
        if form.get("grant_type") != "client_credentials":
            return json_response(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "Unsupported grant_type",
                },
            )
        if client_id != self.settings.client_id or client_secret != self.settings.client_secret:
            return json_response(
                401,
                {
                    "error": "unauthorized_client",
                    "error_description": "Invalid client or Invalid client credentials",
                },
            )
        return json_response(
            200,
            {
                "access_token": self.tokens.issue(client_id),
                "expires_in": int(self.settings.token_ttl_seconds),
                "refresh_expires_in": 0,
                "token_type": "Bearer",
                "not-before-policy": 0,
                "scope": SCOPE,
            },
        )

    def appointments(self, request: Request, enterprise: str) -> Response:
        """`GET /enterprises/{enterprise}/appointments`."""
        if enterprise != self.settings.enterprise:
            return pexip_error(404, f"Enterprise '{enterprise}' not found")
        if not self._authorized(request):
            return pexip_error(401)
        try:
            query, offset, limit = parse_query(
                request.params(), self.settings.max_limit, self.settings.over_limit == "reject"
            )
        except BadRequest as error:
            return pexip_error(400, str(error), arguments={"parameter": error.parameter})
        parts, total = self.store.page(query, offset, limit)
        meta = orjson.dumps({"offset": offset, "limit": limit, "totalCount": total})
        body = b'{"data":[' + b",".join(parts) + b'],"meta":' + meta + b"}"
        return Response(200, body, [("Content-Type", PEXIP_JSON)])

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and self.tokens.valid(token.strip())


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        return None
    return unquote(user), unquote(password)


def _non_negative(name: str, value: str, minimum: int) -> int:
    if not value.isdigit() or int(value) < minimum:
        kind = "a positive integer" if minimum else "a non-negative integer"
        raise BadRequest(f"Query parameter '{name}' must be {kind}", name)
    return int(value)


def parse_query(
    params: list[tuple[str, str]], max_limit: int, reject_over_limit: bool = False
) -> tuple[PexipQuery, int, int]:
    """Validate a query string like the real API; a limit above `max_limit` is clamped to
    it (and `meta.limit` says so), or refused with 400 if `reject_over_limit`."""
    arrays: dict[str, set[str]] = defaultdict(set)
    bounds: dict[str, int] = {}
    offset, limit = 0, DEFAULT_LIMIT
    for key, value in params:
        if key.endswith("[]") and key[:-2] in PEXIP_ARRAY_FILTERS:
            name = key[:-2]
            if not value or (name == "external-id" and len(value) > 255):
                raise BadRequest(f"Query parameter '{name}' has an invalid element", name)
            if name in ENUMS and value not in ENUMS[name]:
                allowed = ", ".join(sorted(ENUMS[name]))
                raise BadRequest(f"Query parameter '{name}' must be one of: {allowed}", name)
            arrays[name].add(value)
        elif key in PEXIP_ARRAY_FILTERS:
            raise BadRequest(
                f"Query parameter '{key}' must be an array: send it as '{key}[]={value}'", key
            )
        elif key in ("from", "to"):
            parsed = parse_iso_ms(value)
            if parsed is None:
                raise BadRequest(f"Query parameter '{key}' must be an ISO 8601 date-time", key)
            bounds[key] = parsed
        elif key == "offset":
            offset = _non_negative(key, value, 0)
        elif key == "limit":
            limit = _non_negative(key, value, 1)
            if limit > max_limit and reject_over_limit:
                raise BadRequest(f"Query parameter 'limit' must be at most {max_limit}", key)
            limit = min(limit, max_limit)
        else:
            raise BadRequest(f"Unknown query parameter '{key}'", key)
    query = PexipQuery(
        arrays=tuple(sorted((name, frozenset(values)) for name, values in arrays.items())),
        from_ms=bounds.get("from"),
        to_ms=bounds.get("to"),
    )
    return query, offset, limit
