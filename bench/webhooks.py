"""`make bench`, webhooks part: an events-only sync and the time from a change to its row.

Processes: the simulator (sending a webhook for every Pexip change), the real
`apptsync webhooks serve`, and each `apptsync sync` in a process of its own. Steps:

1. a first sync (a full scan: none is on record yet);
2. 1% of the appointments change; the deliveries are awaited in the spool; an events-only
   sync runs, and the Pexip requests it made are counted (expected: none);
3. one appointment changes; the time until its event is in the spool, and until its row is
   in the warehouse after a sync, end to end.

Environment: BENCH_N (default 100000), BENCH_SEED (42), BENCH_KEEP. Writes
bench/out/webhooks-<N>.json.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
from sim import PEXIP_CLIENT_ID, PEXIP_CLIENT_SECRET, SimulatorProcess, free_port

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
APPTSYNC = Path(sys.executable).with_name("apptsync")
SECRET = "bench-webhook-secret"
CHANGED_FRACTION = 0.01
SPOOL_WAIT_SECONDS = 600.0


def spooled(spool: Path) -> int:
    active = spool / "active.jsonl"
    return active.read_bytes().count(b"\n") if active.exists() else 0


def wait_spooled(spool: Path, at_least: int) -> float:
    started = time.perf_counter()
    while spooled(spool) < at_least:
        if time.perf_counter() - started > SPOOL_WAIT_SECONDS:
            raise SystemExit(f"only {spooled(spool)} of {at_least} deliveries arrived")
        time.sleep(0.005)
    return time.perf_counter() - started


def sync(env: dict[str, str], log: Path) -> tuple[float, float]:
    """(wall seconds of the `apptsync sync` process, seconds the sync itself reports)."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(APPTSYNC), "sync", "--source", "pexip_engage", "--no-models"],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    with log.open("a") as out:
        out.write(done.stdout + done.stderr)
    reported = re.search(r"pexip_engage: ok in ([0-9.]+)s", done.stdout)
    if done.returncode != 0 or reported is None:
        raise SystemExit(f"sync failed; see {log}")
    return round(wall, 2), float(reported.group(1))


def notes(warehouse: Path, ident: str) -> str | None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute(
            "select internal_notes from pexip_engage.appointments where id = ?", [ident]
        ).fetchone()
    return None if row is None else row[0]


def start_receiver(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [str(APPTSYNC), "webhooks", "serve", "--port", str(free_port())],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"on (http://\S+) into", line)
    if not found:
        raise SystemExit(f"the receiver did not start: {line!r}; see {log}")
    return proc, found.group(1) + "/"


def main() -> None:
    n = int(os.environ.get("BENCH_N", "100000"))
    seed = int(os.environ.get("BENCH_SEED", "42"))
    work = Path(tempfile.mkdtemp(prefix="apptsync-bench-webhooks-"))
    spool, warehouse = work / "spool", work / "warehouse.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DLT_"))}
    env.update(
        DLT_DATA_DIR=str(work / "dlt"),
        DESTINATION__DUCKDB__CREDENTIALS=str(warehouse),
        RUNTIME__LOG_LEVEL="WARNING",
        RUNTIME__DLTHUB_TELEMETRY="false",
        SOURCES__PEXIP_ENGAGE__WEBHOOKS="true",
        SOURCES__PEXIP_ENGAGE__WEBHOOK_SECRET=SECRET,
        SOURCES__PEXIP_ENGAGE__WEBHOOK_SPOOL_DIR=str(spool),
        SOURCES__PEXIP_ENGAGE__FULL_SCAN_EVERY="24h",
    )
    receiver, hook_url = start_receiver(env, work / "receiver.log")
    result: dict[str, Any] = {"n": n}
    try:
        args = ["--webhook-url", hook_url, "--webhook-secret", SECRET]
        with SimulatorProcess(n, seed, work / "simulator.log", extra_args=args) as sim:
            env.update(
                SOURCES__PEXIP_ENGAGE__BASE_URL=sim.url,
                SOURCES__PEXIP_ENGAGE__TOKEN_URL=f"{sim.url}/realms/acme/protocol/openid-connect/token",
                SOURCES__PEXIP_ENGAGE__ENTERPRISE="acme",
                SOURCES__PEXIP_ENGAGE__CLIENT_ID=PEXIP_CLIENT_ID,
                SOURCES__PEXIP_ENGAGE__CLIENT_SECRET=PEXIP_CLIENT_SECRET,
            )
            log = work / "sync.log"
            before = sim.requests("pexip")
            result["full_scan_process_s"], result["full_scan_s"] = sync(env, log)
            result["full_scan_requests"] = sim.requests("pexip") - before

            changed = round(n * CHANGED_FRACTION)
            sim.admin("pexip", "tick", {"seconds": 5})
            sim.admin("pexip", "update", {"fraction": CHANGED_FRACTION})
            result["deliveries_wait_s"] = round(wait_spooled(spool, changed), 2)
            before = sim.requests("pexip")
            result["events_only_process_s"], result["events_only_s"] = sync(env, log)
            result["events_only_requests"] = sim.requests("pexip") - before
            result["events_only_changed"] = changed

            sim.admin("pexip", "tick", {"seconds": 5})
            ident = sim.admin("pexip", "update", {"fraction": 1 / n})
            started = time.perf_counter()
            wait_spooled(spool, 1)
            result["change_to_spool_s"] = round(time.perf_counter() - started, 3)
            sync(env, log)
            result["change_to_row_s"] = round(time.perf_counter() - started, 3)
            landed = notes(warehouse, ident["ids"][0])
            if not (landed or "").startswith("Revision"):
                raise SystemExit(f"the changed row did not land: {landed!r}")
    finally:
        receiver.kill()
        receiver.wait()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    OUT.mkdir(exist_ok=True)
    (OUT / f"webhooks-{n}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"webhooks, N={n}: full scan {result['full_scan_s']} s ({result['full_scan_requests']} "
        f"requests); events-only sync of {changed} changes {result['events_only_s']} s, "
        f"{result['events_only_process_s']:.1f} s with the process start "
        f"({result['events_only_requests']} requests; deliveries took "
        f"{result['deliveries_wait_s']} s); one change to its row {result['change_to_row_s']} s "
        f"(in the spool after {result['change_to_spool_s']} s)"
    )


if __name__ == "__main__":
    main()
