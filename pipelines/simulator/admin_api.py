"""`/_sim/{api}/...` routes: drive a simulator that runs in another process.

Why: benchmarks run `apptsync simulate` as a separate process and need to change data and
faults between syncs without importing the simulator; these routes mirror the Python API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from .faults import Faults
from .messages import Request, Response, json_response
from .stores import PexipStore, ValomniaStore
from .traffic import Traffic


class AdminApi:
    def __init__(
        self,
        stores: dict[str, PexipStore | ValomniaStore],
        faults: dict[str, Faults],
        auth_faults: dict[str, Faults],
        traffic: dict[str, Traffic],
        expire: dict[str, Callable[[], None]],
    ) -> None:
        self._stores = stores
        self._faults = faults
        self._auth_faults = auth_faults
        self._traffic = traffic
        self._expire = expire

    def handle(self, request: Request, api: str, action: str) -> Response:
        store = self._stores.get(api)
        if store is None:
            return _error(404, f"unknown api {api!r}: use pexip or valomnia")
        if request.method == "GET" and action == "stats":
            return json_response(
                200, {"count": store.count(), "requests": self._traffic[api].count}
            )
        if request.method != "POST":
            return _error(405, "admin actions other than stats are POST")
        try:
            payload = orjson.loads(request.body) if request.body.strip() else {}
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
            return json_response(200, self._act(api, store, action, payload))
        except KeyError as error:
            return _error(404, f"no appointment with id {error.args[0]!r}")
        except (ValueError, TypeError) as error:
            return _error(400, str(error))

    def _act(
        self, api: str, store: PexipStore | ValomniaStore, action: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        if action == "update":
            if "ids" in payload:
                ids = payload["ids"]
            elif "fraction" in payload:
                ids = store.choose(float(payload["fraction"]))
            else:
                raise ValueError('update needs "ids" or "fraction"')
            store.update(ids, drop=payload.get("drop", ()), **payload.get("fields", {}))
            return {"ids": ids}
        if action == "insert":
            return {"ids": store.insert(int(payload.get("n", 1)))}
        if action == "delete":
            if "ids" not in payload:
                raise ValueError('delete needs "ids"')
            store.delete(payload["ids"])
            return {"ids": payload["ids"]}
        if action in ("faults", "auth_faults"):
            faults = (self._faults if action == "faults" else self._auth_faults)[api]
            faults.configure(payload)
            return faults.snapshot()
        if action == "tick":
            clock = store.tick(float(payload.get("seconds", 1)))
            return {"clock": clock.isoformat().replace("+00:00", "Z")}
        if action == "expire":
            self._expire[api]()
            return {"expired": True}
        raise ValueError(f"unknown admin action {action!r}")


def _error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})
