"""`Simulator`: both APIs on a local server, for tests, benchmarks and `apptsync simulate`.

Why one object: tests need the URL, the data (to mutate it and to compute expected
results), fault settings, hooks and request accounting together, and must be able to start
and stop it around a single test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .app import APIS, App
from .faults import Faults
from .pexip_api import PexipApi
from .server import Server
from .settings import Settings
from .stores import PexipStore, ValomniaStore
from .traffic import Traffic
from .valomnia_api import ValomniaApi
from .webhooks import WebhookSender


class Simulator:
    """Both APIs on one local HTTP server, with seeded data you can change while it runs.

    >>> with Simulator(appointments=1000, seed=7) as sim:  # doctest: +SKIP
    ...     sim.url, sim.pexip.count(), sim.valomnia.ids()[:3]
    """

    def __init__(
        self,
        appointments: int = 5000,
        *,
        pexip_appointments: int | None = None,
        valomnia_appointments: int | None = None,
        seed: int = 42,
        host: str = "127.0.0.1",
        port: int = 0,
        token_ttl_seconds: float = 3600,
        enterprise: str = "acme",
        client_id: str = "apptsync",
        client_secret: str = "pexip-secret",
        username: str = "sync@acme.test",
        password: str = "valomnia-secret",
        ties_per_second: float = 5,
        max_limit: int = 1000,
        over_limit: str = "clamp",
        session_expiry: str = "redirect",
    ) -> None:
        self.settings = Settings(
            enterprise=enterprise,
            client_id=client_id,
            client_secret=client_secret,
            username=username,
            password=password,
            token_ttl_seconds=token_ttl_seconds,
            max_limit=max_limit,
            over_limit=over_limit,
            session_expiry=session_expiry,
        )
        self.seed = seed
        self.pexip = PexipStore(
            appointments if pexip_appointments is None else pexip_appointments,
            seed,
            ties_per_second=ties_per_second,
            enterprise=enterprise,
            client_id=client_id,
            client_secret=client_secret,
        )
        self.valomnia = ValomniaStore(
            appointments if valomnia_appointments is None else valomnia_appointments,
            seed,
            ties_per_second=ties_per_second,
            username=username,
            password=password,
        )
        self._app = App(
            PexipApi(self.pexip, self.settings), ValomniaApi(self.valomnia, self.settings)
        )
        self._address = (host, port)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._senders: list[WebhookSender] = []

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Listen and serve on a background thread (idempotent)."""
        if self._server is None:
            self._server = Server(self._address, self._app)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"apptsync-simulator-{self._server.server_port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection (idempotent)."""
        for sender in self._senders:
            sender.stop()
        self._senders.clear()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL of both APIs, e.g. http://127.0.0.1:54321."""
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() or use `with`")
        return f"http://{self._server.server_name}:{self._server.server_port}"

    # --- control --------------------------------------------------------------------------

    def after_request(self, api: str, k: int, fn: Callable[[], object]) -> None:
        """Run `fn()` in the server right after the k-th appointments request of `api` is
        computed (before its answer is sent), so it affects request k+1 onward.

        k counts every request to that endpoint since start or `reset_counters()`, faulted
        ones included; a k that already happened raises ValueError.
        """
        self._traffic(api).after(k, fn)

    def request_count(self, api: str) -> int:
        """Appointments requests of `api` since start or `reset_counters()`."""
        return self._traffic(api).count

    def request_log(self, api: str) -> list[dict[str, Any]]:
        """The last 10,000 appointments requests of `api` (not token or login requests):
        method, path, query (raw string), status (0 for a reset connection), headers."""
        return self._traffic(api).log()

    def reset_counters(self) -> None:
        """Restart request numbering (for `after_request`) and empty the logs of both APIs."""
        for api in APIS:
            self._app.traffic[api].reset()

    def faults(self, api: str) -> Faults:
        """The live fault settings of `api`'s appointments endpoint (mutate them directly)."""
        self._traffic(api)
        return self._app.faults[api]

    def auth_faults(self, api: str) -> Faults:
        """The live fault settings of `api`'s token endpoint (pexip) or login (valomnia):
        scripted outcomes and rates as for `faults`; no concurrency limit."""
        self._traffic(api)
        return self._app.auth_faults[api]

    def expire_tokens(self) -> None:
        """Every Pexip token issued so far is rejected from now on (401)."""
        self._app.pexip.tokens.expire_all()

    def expire_sessions(self) -> None:
        """Every Valomnia session opened so far is rejected from now on."""
        self._app.valomnia.sessions.expire_all()

    def send_webhooks(self, url: str, **options: Any) -> WebhookSender:
        """POST every Pexip change from now on to `url`, the vendor's way (see
        `webhooks.WebhookSender` for the options: secret, retry delays, faults)."""
        sender = WebhookSender(self.pexip, url, **options)
        self._senders.append(sender)
        return sender

    def _traffic(self, api: str) -> Traffic:
        if api not in APIS:
            raise ValueError(f"api must be one of {APIS}, not {api!r}")
        return self._app.traffic[api]


def serve(
    port: int,
    appointments: int,
    seed: int,
    host: str = "127.0.0.1",
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    **kwargs: Any,
) -> None:
    """Serve both APIs until Ctrl-C (for `apptsync simulate` and `python -m`); with
    `webhook_url`, every Pexip change is also delivered there as a webhook."""
    sim = Simulator(appointments, seed=seed, host=host, port=port, **kwargs).start()
    if webhook_url:
        sim.send_webhooks(webhook_url, secret=webhook_secret)
    s = sim.settings
    print(
        f"apptsync simulator on {sim.url} - pexip: enterprise={s.enterprise} "
        f"client_id={s.client_id} client_secret={s.client_secret} | valomnia: "
        f"username={s.username} password={s.password} | {appointments} appointments, "
        f"seed {seed}",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
