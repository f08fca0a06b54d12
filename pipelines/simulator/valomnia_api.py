"""Valomnia routes: the Spring Security login flow and `GET /api/v1.0/appointments`.

Why the redirects: Valomnia is a Grails app behind Spring Security, so a missing or expired
session is not a 401 but a 302 to the login page (configurable to 401 because the real
behaviour for API clients is not documented). A sync must notice that and log in again.
"""

from __future__ import annotations

import secrets
import threading
from urllib.parse import urlencode

import orjson

from .data import parse_valomnia_date
from .messages import Request, Response, json_response, valomnia_error
from .queries import (
    VALOMNIA_DATE_FIELDS,
    VALOMNIA_OPERATORS,
    VALOMNIA_SORT_FIELDS,
    VALOMNIA_WILDCARDS,
    ValomniaQuery,
)
from .settings import Settings
from .stores import ValomniaStore

APPOINTMENTS_PATH = "/api/v1.0/appointments"
DEFAULT_MAX = 100
DATE_FILTERS = {
    f"{name}_{operator}": (name, operator)
    for name in VALOMNIA_DATE_FIELDS
    for operator in VALOMNIA_OPERATORS
}
ALLOWED = frozenset({"max", "offset", "sort", "order", *DATE_FILTERS, *VALOMNIA_WILDCARDS})
LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Valomnia - Login</title></head><body>"
    b'<form action="/j_spring_security_check" method="POST"><input name="j_username">'
    b'<input name="j_password" type="password"></form></body></html>'
)


class BadParam(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class Sessions:
    """Valid JSESSIONID values (they live until `expire_all`)."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def open(self) -> str:
        session = secrets.token_hex(16).upper()
        with self._lock:
            self._ids.add(session)
        return session

    def valid(self, session: str | None) -> bool:
        with self._lock:
            return session is not None and session in self._ids

    def expire_all(self) -> None:
        with self._lock:
            self._ids.clear()


class ValomniaApi:
    def __init__(self, store: ValomniaStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.sessions = Sessions()

    def login(self, request: Request) -> Response:
        """`POST /j_spring_security_check`: a session cookie and a redirect, never JSON."""
        form = request.form()
        suffix = "?ajax=true" if form.get("ajax") == "true" else ""
        if (
            form.get("j_username") != self.settings.username
            or form.get("j_password") != self.settings.password
        ):
            return _redirect(f"/login/authfail{suffix}")
        session = self.sessions.open()
        response = _redirect("/login/ajaxSuccess")
        response.headers.append(("Set-Cookie", f"JSESSIONID={session}; Path=/; HttpOnly"))
        return response

    def ajax_success(self, request: Request) -> Response:
        """`GET /login/ajaxSuccess`: who is logged in, and the session token."""
        session = request.cookie("JSESSIONID")
        if not self.sessions.valid(session):
            return self.no_session()
        user = {
            "id": 1,
            "username": self.settings.username,
            "email": self.settings.username,
            "firstName": "Sync",
            "lastName": "Robot",
            "organization": self.settings.enterprise,
            "roles": ["ROLE_API"],
        }
        return json_response(200, {"success": True, "token": session, "user": user})

    @staticmethod
    def auth_fail(request: Request) -> Response:
        """`GET /login/authfail`: the answer to wrong credentials."""
        return json_response(
            401,
            {"error": "Sorry, we were not able to find a user with that username and password."},
        )

    @staticmethod
    def login_page(request: Request) -> Response:
        """`GET /login/auth`: the HTML page a client lands on when it follows the redirect."""
        return Response(200, LOGIN_PAGE, [("Content-Type", "text/html;charset=UTF-8")])

    def no_session(self) -> Response:
        if self.settings.session_expiry == "401":
            return valomnia_error(401)
        return _redirect("/login/auth")

    def appointments(self, request: Request) -> Response:
        """`GET /api/v1.0/appointments`."""
        if not self.sessions.valid(request.cookie("JSESSIONID")):
            return self.no_session()
        params = request.params()
        try:
            query, offset, limit = parse_query(params, self.settings.max_limit)
        except BadParam as error:
            return valomnia_error(400, error.error, error.description)
        parts, total = self.store.page(query, offset, limit)
        paging = {
            "total": total,
            "max": limit,
            "offset": offset,
            "previous": _link(params, limit, max(0, offset - limit)) if offset > 0 else None,
            "next": _link(params, limit, offset + limit) if offset + limit < total else None,
        }
        body = b'{"paging":' + orjson.dumps(paging) + b',"data":[' + b",".join(parts) + b"]}"
        return Response(200, body, [("Content-Type", "application/json;charset=UTF-8")])


def _redirect(location: str) -> Response:
    return Response(302, b"", [("Location", location)])


def _link(params: list[tuple[str, str]], limit: int, offset: int) -> str:
    """A ready relative URL for another page: same parameters, new max/offset."""
    kept = [(key, value) for key, value in params if key not in ("max", "offset")]
    pairs = [("max", str(limit)), ("offset", str(offset)), *kept]
    return f"{APPOINTMENTS_PATH}?{urlencode(pairs, safe=':*')}"


def _invalid(names: list[str]) -> BadParam:
    listed = ", ".join(dict.fromkeys(names))
    return BadParam(
        "invalid_param", f"The parameters [{listed}] you provided are not valid for this request."
    )


def _integer(name: str, value: str, minimum: int) -> int:
    if not value.isdigit() or int(value) < minimum:
        raise _invalid([name])
    return int(value)


def parse_query(params: list[tuple[str, str]], max_limit: int) -> tuple[ValomniaQuery, int, int]:
    """Validate a query string like Valomnia; `max` is clamped to `max_limit`."""
    unknown = [key for key, _ in params if key not in ALLOWED]
    if unknown:
        raise _invalid(unknown)
    values = dict(params)  # a repeated parameter: the last one wins
    limit = min(_integer("max", values.get("max", str(DEFAULT_MAX)), 1), max_limit)
    offset = _integer("offset", values.get("offset", "0"), 0)
    sort = values.get("sort", "id")
    if sort not in VALOMNIA_SORT_FIELDS:
        raise _invalid(["sort"])
    order = values.get("order", "asc").lower()
    if order not in ("asc", "desc"):
        raise _invalid(["order"])
    dates = []
    for key, raw in params:
        if key in DATE_FILTERS:
            parsed = parse_valomnia_date(raw)
            if parsed is None:
                raise BadParam(
                    "invalid_datetime_format",
                    f"Invalid datetime filter (not ISO-8601 formatted): [{raw}]",
                )
            dates.append((*DATE_FILTERS[key], parsed))
    wildcards = tuple(sorted((key, values[key]) for key in VALOMNIA_WILDCARDS if key in values))
    query = ValomniaQuery(
        sort=sort, descending=order == "desc", dates=tuple(sorted(dates)), wildcards=wildcards
    )
    return query, offset, limit
