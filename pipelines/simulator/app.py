"""Routing, fault injection and accounting around the two APIs' handlers.

Why separate from the HTTP plumbing: what a request means (which API, whether it is the
appointments endpoint, which fault hits it) is testable logic; the server module only moves
bytes. Both APIs share one server because their paths never collide.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from .admin_api import AdminApi
from .faults import Faults, Injected
from .messages import Request, Response, json_response, pexip_error, valomnia_error
from .pexip_api import PexipApi
from .traffic import Traffic
from .valomnia_api import APPOINTMENTS_PATH, ValomniaApi

APIS = ("pexip", "valomnia")
Handler = Callable[[Request], Response]

_TOKEN = re.compile(r"/realms/([^/]+)/protocol/openid-connect/token")
_PEXIP_APPOINTMENTS = re.compile(r"/enterprises/([^/]+)/appointments")
_ADMIN = re.compile(r"/_sim/([^/]+)/([^/]+)")


@dataclass(frozen=True)
class Route:
    """Where a request goes: its API (None for admin/unknown) and whether it is paged data."""

    api: str | None
    handler: Handler
    appointments: bool = False
    auth: bool = False  # the token endpoint or the login: faulted by `auth_faults`


class App:
    def __init__(self, pexip: PexipApi, valomnia: ValomniaApi) -> None:
        self.pexip = pexip
        self.valomnia = valomnia
        self.faults = {"pexip": Faults(max_concurrent=4), "valomnia": Faults()}
        self.auth_faults = {api: Faults() for api in APIS}
        self.traffic = {api: Traffic() for api in APIS}
        self.admin = AdminApi(
            {"pexip": pexip.store, "valomnia": valomnia.store},
            self.faults,
            self.auth_faults,
            self.traffic,
            {"pexip": pexip.tokens.expire_all, "valomnia": valomnia.sessions.expire_all},
        )

    def route(self, request: Request) -> Route:
        path, method = request.path, request.method
        if match := _ADMIN.fullmatch(path):
            api, action = match.groups()
            return Route(None, lambda r: self.admin.handle(r, api, action))
        if match := _TOKEN.fullmatch(path):
            realm = match.group(1)
            return self._only(
                method, "POST", "pexip", lambda r: self.pexip.token(r, realm), auth=True
            )
        if match := _PEXIP_APPOINTMENTS.fullmatch(path):
            enterprise = match.group(1)
            if method != "GET":
                return Route("pexip", lambda r: pexip_error(405))
            return Route("pexip", lambda r: self.pexip.appointments(r, enterprise), True)
        if path.startswith(("/enterprises/", "/realms/")):
            return Route("pexip", lambda r: pexip_error(404))
        if path == "/j_spring_security_check":
            return self._only(method, "POST", "valomnia", self.valomnia.login, auth=True)
        if path == "/login/ajaxSuccess":
            return self._only(method, "GET", "valomnia", self.valomnia.ajax_success)
        if path == "/login/authfail":
            return Route("valomnia", self.valomnia.auth_fail)
        if path == "/login/auth":
            return Route("valomnia", self.valomnia.login_page)
        if path == APPOINTMENTS_PATH:
            if method != "GET":
                return Route("valomnia", lambda r: valomnia_error(405, "method_not_allowed"))
            return Route("valomnia", self.valomnia.appointments, True)
        if path.startswith(("/api/", "/login/")):
            return Route("valomnia", lambda r: valomnia_error(404))
        return Route(None, lambda r: json_response(404, {"error": f"no route for {path}"}))

    @staticmethod
    def _only(method: str, allowed: str, api: str, handler: Handler, auth: bool = False) -> Route:
        if method != allowed:
            return Route(api, lambda r: json_response(405, {"error": "method_not_allowed"}))
        return Route(api, handler, auth=auth)

    def respond(
        self, route: Route, request: Request, k: int = 0, admitted: bool = True
    ) -> Response:
        """The full answer: faults, the log and hooks for appointments requests, headers.

        `k` numbers an appointments request and `admitted` says whether it fit under the
        concurrency limit (both come from `Traffic.arrive`, which the server calls so that
        the request counts as in flight until its bytes are written).
        """
        api = route.api
        if route.auth and api is not None:
            response = self._faulted(api, self.auth_faults[api], route.handler, request)
        elif not route.appointments or api is None:
            response = route.handler(request)
        else:
            faults = self.faults[api]
            if admitted:
                response = self._faulted(api, faults, route.handler, request)
            else:
                response = self._error(api, Injected(status=429, retry_after=faults.retry_after))
            self.traffic[api].record(
                {
                    "method": request.method,
                    "path": request.path,
                    "query": request.query,
                    "status": 0 if response.fault == "reset" else response.status,
                    "headers": dict(request.headers.items()),
                }
            )
            self.traffic[api].fire(k)
        if api == "pexip":
            correlation = request.header("X-Correlation-Id") or str(uuid.uuid4())
            response.headers.append(("X-Correlation-Id", correlation))
        return response

    def _faulted(self, api: str, faults: Faults, handler: Handler, request: Request) -> Response:
        """The handler's answer after latency, with the next fault of `faults` applied."""
        if faults.latency_ms > 0:
            time.sleep(faults.latency_ms / 1000)
        injected = faults.draw()
        if injected is not None and injected.status is not None:
            auth = faults is self.auth_faults[api]
            return self._error(api, injected, auth)
        if injected is not None and injected.kind == "reset":
            return Response(0, fault="reset")
        response = handler(request)
        if injected is None or response.status != 200:
            return response
        if injected.kind == "malformed":
            # A NUL byte is invalid JSON everywhere, inside a string or between tokens.
            middle = len(response.body) // 2
            response.body = (
                response.body[:middle] + b"\x00<!-- upstream -->" + response.body[middle:]
            )
        else:
            response.fault = "truncated"
        return response

    @staticmethod
    def _error(api: str, injected: Injected, auth: bool = False) -> Response:
        status = injected.status or 500
        if api == "pexip" and not auth:
            return pexip_error(status, retry_after=injected.retry_after)
        # Valomnia's errors and Keycloak's (the Pexip token endpoint) share one shape.
        return valomnia_error(status, retry_after=injected.retry_after)
