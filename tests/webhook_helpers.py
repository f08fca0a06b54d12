"""Helpers for webhook tests: a receiver on a real port, the spool, the API's state."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from pipelines.simulator import Simulator
from pipelines.webhooks.envelope import sign
from pipelines.webhooks.receiver import background_receiver
from pipelines.webhooks.settings import WebhookSettings, configured_webhook_settings
from pipelines.webhooks.spool import ACTIVE, DONE, READY, REJECTED
from tests.cli_helpers import APPTSYNC
from tests.utils import Target, configure_pexip, rows

DATASET = "pexip_engage"
SECTION = "sources.pexip_engage"
SECRET = "whsec-test-0123456789"
# Tiny retry delays: a failed delivery is retried twice within a test's patience.
FAST_RETRIES = {"retry_delays": (0.05, 0.2), "timeout": 3.0}


def configure_webhooks(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, spool: Path, **extra: object
) -> WebhookSettings:
    """Point Pexip at the simulator with webhooks on, through config as a user would."""
    settings: dict[str, object] = {
        "webhooks": "true",
        "webhook_secret": SECRET,
        "webhook_spool_dir": str(spool),
        "full_scan_every": "24h",
        **extra,
    }
    configure_pexip(sim, monkeypatch, **settings)
    return configured_webhook_settings(SECTION)


@contextmanager
def receiver(settings: WebhookSettings) -> Iterator[str]:
    """`apptsync webhooks serve`'s server on a thread of this process, on a free port."""
    with background_receiver(settings) as running:
        yield running.url


class ReceiverProcess:
    """The real `apptsync webhooks serve` in its own process (for kill -9)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> ReceiverProcess:
        self.proc = subprocess.Popen(
            [APPTSYNC, "webhooks", "serve", "--port", "0"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            found = re.search(r"on (http://\S+) into", line)
            if found:
                self.url = found.group(1) + "/"
                return self
        raise AssertionError(f"the receiver did not start (exit {self.proc.wait()})")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no clean-up of any kind
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def subprocess_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()}


def envelope(data: dict[str, Any], event_id: str, event_type: str = "GENERIC_UPDATE") -> bytes:
    return orjson.dumps({"id": event_id, "type": event_type, "data": data})


def post(url: str, body: bytes, secret: str | None = SECRET, header: str = "X-Signature") -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[header] = sign(body, secret)
    return httpx.post(url, content=body, headers=headers, timeout=10).status_code


def spooled_ids(spool: Path) -> list[str]:
    """Event ids in every segment (active, ready, done), in no particular order."""
    files = [spool / ACTIVE, *(spool / READY).glob("*.jsonl"), *(spool / DONE).glob("*.jsonl")]
    ids = []
    for path in files:
        if path.exists():
            for line in path.read_bytes().splitlines():
                try:
                    ids.append(orjson.loads(line)["id"])
                except orjson.JSONDecodeError:
                    continue  # a torn line (never acknowledged)
    return ids


def rejected(spool: Path) -> list[tuple[bytes, str]]:
    folder = spool / REJECTED
    return [
        (body.read_bytes(), body.with_suffix(".reason").read_text().strip())
        for body in sorted(folder.glob("*.body"))
    ]


def api_state(sim: Simulator) -> set[tuple[str, str, str | None]]:
    """(id, updatedAt, internalNotes) of every appointment the API serves now."""
    return {(r["id"], r["updatedAt"], r.get("internalNotes")) for r in sim.pexip.records()}


def iso_millis(stamp: datetime) -> str:
    """A loaded timestamp as the API writes it (UTC, milliseconds, `Z`), whichever
    destination returned it (naive UTC or aware)."""
    utc = stamp.astimezone(UTC) if stamp.tzinfo else stamp
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def warehouse_state(warehouse: Target) -> set[tuple[str, str, str | None]]:
    """The same triple for every row of the warehouse not marked deleted."""
    got = rows(
        warehouse,
        f"select id, updated_at, internal_notes from {DATASET}.appointments "
        "where deleted_at is null",
    )
    return {(ident, iso_millis(updated), notes) for ident, updated, notes in got}


def child_counts_per_appointment(warehouse: Target) -> dict[str, tuple[int, int]]:
    """appointment id -> (participants, answers) in the warehouse."""
    got = rows(
        warehouse,
        f"""select a.id,
              (select count(*) from {DATASET}.appointments__appointment_participants p
               where p.appointment_id = a.id),
              (select count(*) from {DATASET}.appointments__answers x
               where x.appointment_id = a.id)
            from {DATASET}.appointments a where a.deleted_at is null""",
    )
    return {r[0]: (r[1], r[2]) for r in got}


def api_child_counts(sim: Simulator) -> dict[str, tuple[int, int]]:
    return {
        r["id"]: (len(r["appointmentParticipants"] or []), len(r["answers"] or []))
        for r in sim.pexip.records()
    }


def assert_warehouse_is_the_api(sim: Simulator, warehouse: Target) -> None:
    assert warehouse_state(warehouse) == api_state(sim)
    assert child_counts_per_appointment(warehouse) == api_child_counts(sim)
    dupes = rows(
        warehouse, f"select id from {DATASET}.appointments group by id having count(*) > 1"
    )
    assert dupes == []
