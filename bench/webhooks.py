"""`make bench`, webhooks part: an events-only sync beside a Valomnia incremental, and the
time from a change at the API to its row in the published warehouse.

Processes: the simulator (sending a webhook for every Pexip change), the real
`apptsync webhooks serve`, and each `apptsync sync` in a process of its own, so every
figure includes what a scheduled run pays (the sync's own seconds are reported beside the
process's). Steps:

1. first syncs of both sources (Pexip: a full scan, none is on record yet);
2. 1% of the Pexip appointments change; the deliveries are awaited in the spool; an
   events-only sync runs; the Pexip requests it made are counted by the simulator and by
   the run ledger (expected: none);
3. 1% of the Valomnia appointments change; a Valomnia incremental runs (the comparison:
   the cheapest sync a paging source has);
4. one appointment changes; the time until its event is in the spool, and until its row is
   in the working warehouse after `apptsync sync --no-models`;
5. another appointment changes; the time until its row is in the published copy after a
   whole `apptsync sync --source pexip_engage` (events, models, publish), end to end.

The sync is started as soon as the event is in the spool: in production the schedule's
interval comes on top.

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
from ledger import ledger_row
from sim import (
    PEXIP_CLIENT_ID,
    PEXIP_CLIENT_SECRET,
    VALOMNIA_PASSWORD,
    VALOMNIA_USERNAME,
    SimulatorProcess,
    free_port,
)

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
APPTSYNC = Path(sys.executable).with_name("apptsync")
SECRET = "bench-webhook-secret"
CHANGED_FRACTION = 0.01
SPOOL_WAIT_SECONDS = 600.0
PEXIP, VALOMNIA = "pexip_engage", "valomnia"


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


class Syncs:
    """`apptsync sync` processes against one warehouse, each measured the same way."""

    def __init__(self, env: dict[str, str], work: Path, sim: SimulatorProcess) -> None:
        self.env, self.sim, self.log = env, sim, work / "sync.log"
        self.warehouse = Path(env["DESTINATION__DUCKDB__CREDENTIALS"])

    def run(self, source: str, *options: str) -> dict[str, Any]:
        """One sync process: its wall time, the source run's seconds and requests as the
        run ledger has them, the requests the simulator saw, and the publish's seconds
        (as the command prints them, to 0.1 s) when it publishes."""
        api = "pexip" if source == PEXIP else "valomnia"
        load, before = os.getloadavg()[0], self.sim.requests(api)
        started = time.perf_counter()
        done = subprocess.run(
            [str(APPTSYNC), "sync", "--source", source, *options],
            env=self.env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        with self.log.open("a") as out:
            out.write(done.stdout + done.stderr)
        row = ledger_row(self.warehouse, source) or {}
        if done.returncode != 0 or f"{source}: ok in" not in done.stdout or not row:
            raise SystemExit(f"sync of {source} failed; see {self.log}")
        published = re.search(r"publish: \S+ in ([0-9.]+)s", done.stdout)
        return {
            "process_s": round(wall, 2),
            "sync_s": row["seconds"],
            "publish_s": float(published.group(1)) if published else None,
            "requests": self.sim.requests(api) - before,
            "ledger_requests": row.get("requests"),
            "rows_loaded": row.get("rows_loaded"),
            "loadavg_1min_before": round(load, 2),
        }


def notes(database: Path, ident: str) -> str | None:
    with duckdb.connect(str(database), read_only=True) as con:
        row = con.execute(
            "select internal_notes from pexip_engage.appointments where id = ?", [ident]
        ).fetchone()
    return None if row is None else row[0]


def landed(database: Path, ident: str) -> None:
    text = notes(database, ident)
    if not (text or "").startswith("Revision"):
        raise SystemExit(f"the changed row did not land in {database}: {text!r}")


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


def base_env(work: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SOURCES__", "DESTINATION__", "APPTSYNC__", "DLT_"))
    }
    env.update(
        DLT_DATA_DIR=str(work / "dlt"),
        DESTINATION__DUCKDB__CREDENTIALS=str(work / "warehouse.duckdb"),
        APPTSYNC__PUBLISH_PATH=str(work / "published.duckdb"),
        RUNTIME__LOG_LEVEL="WARNING",
        RUNTIME__DLTHUB_TELEMETRY="false",
        SOURCES__PEXIP_ENGAGE__WEBHOOKS="true",
        SOURCES__PEXIP_ENGAGE__WEBHOOK_SECRET=SECRET,
        SOURCES__PEXIP_ENGAGE__WEBHOOK_SPOOL_DIR=str(work / "spool"),
        SOURCES__PEXIP_ENGAGE__FULL_SCAN_EVERY="24h",
    )
    return env


def api_env(url: str) -> dict[str, str]:
    """Both sources at the simulator, at their shipped page sizes."""
    return {
        "SOURCES__PEXIP_ENGAGE__BASE_URL": url,
        "SOURCES__PEXIP_ENGAGE__TOKEN_URL": f"{url}/realms/acme/protocol/openid-connect/token",
        "SOURCES__PEXIP_ENGAGE__ENTERPRISE": "acme",
        "SOURCES__PEXIP_ENGAGE__CLIENT_ID": PEXIP_CLIENT_ID,
        "SOURCES__PEXIP_ENGAGE__CLIENT_SECRET": PEXIP_CLIENT_SECRET,
        "SOURCES__VALOMNIA__BASE_URL": url,
        "SOURCES__VALOMNIA__USERNAME": VALOMNIA_USERNAME,
        "SOURCES__VALOMNIA__PASSWORD": VALOMNIA_PASSWORD,
    }


def measure(n: int, sim: SimulatorProcess, syncs: Syncs, spool: Path) -> dict[str, Any]:
    work = syncs.warehouse.parent
    result: dict[str, Any] = {"n": n}
    result["full_scan"] = syncs.run(PEXIP, "--no-models")
    result["valomnia_full"] = syncs.run(VALOMNIA, "--no-models")

    changed = round(n * CHANGED_FRACTION)
    sim.admin("pexip", "tick", {"seconds": 5})
    sim.admin("pexip", "update", {"fraction": CHANGED_FRACTION})
    result["deliveries_wait_s"] = round(wait_spooled(spool, changed), 2)
    result["events_only"] = {"changed": changed, **syncs.run(PEXIP, "--no-models")}

    sim.admin("valomnia", "tick", {"seconds": 5})
    moved = sim.admin("valomnia", "update", {"fraction": CHANGED_FRACTION})
    result["valomnia_incremental"] = {
        "changed": len(moved.get("ids", [])),
        **syncs.run(VALOMNIA, "--no-models"),
    }

    sim.admin("pexip", "tick", {"seconds": 5})
    started = time.perf_counter()  # the change is made by the call below
    ident = sim.admin("pexip", "update", {"fraction": 1 / n})["ids"][0]
    wait_spooled(spool, 1)
    result["change_to_spool_s"] = round(time.perf_counter() - started, 3)
    result["to_working"] = syncs.run(PEXIP, "--no-models")
    result["change_to_row_s"] = round(time.perf_counter() - started, 3)
    landed(syncs.warehouse, ident)

    sim.admin("pexip", "tick", {"seconds": 5})
    started = time.perf_counter()
    ident = sim.admin("pexip", "update", {"fraction": 1 / n})["ids"][0]
    wait_spooled(spool, 1)
    spooled_s = time.perf_counter() - started
    result["to_published"] = {
        "change_to_spool_s": round(spooled_s, 3),
        **syncs.run(PEXIP),
    }
    result["change_to_published_s"] = round(time.perf_counter() - started, 3)
    landed(work / "published.duckdb", ident)
    return result


def main() -> None:
    n = int(os.environ.get("BENCH_N", "100000"))
    seed = int(os.environ.get("BENCH_SEED", "42"))
    work = Path(tempfile.mkdtemp(prefix="apptsync-bench-webhooks-"))
    env = base_env(work)
    started, load = time.perf_counter(), os.getloadavg()[0]
    receiver, hook_url = start_receiver(env, work / "receiver.log")
    try:
        args = ["--webhook-url", hook_url, "--webhook-secret", SECRET]
        with SimulatorProcess(n, seed, work / "simulator.log", extra_args=args) as sim:
            env.update(api_env(sim.url))
            result = measure(n, sim, Syncs(env, work, sim), work / "spool")
    finally:
        receiver.kill()
        receiver.wait()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    result["loadavg_1min_at_start"] = round(load, 2)
    result["bench_wall_s"] = round(time.perf_counter() - started, 1)
    OUT.mkdir(exist_ok=True)
    (OUT / f"webhooks-{n}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(render(result))


def render(r: dict[str, Any]) -> str:
    def row(label: str, run: dict[str, Any], note: str = "") -> str:
        ledger = run["ledger_requests"]
        return (
            f"| {label} | {run['sync_s']:.2f} | {run['process_s']:.2f} | {run['requests']:,} "
            f"| {'—' if ledger is None else f'{ledger:,}'} | {run['loadavg_1min_before']:.2f} "
            f"| {note} |"
        )

    events, valomnia = r["events_only"], r["valomnia_incremental"]
    to_working, to_published = r["to_working"], r["to_published"]
    return "\n".join(
        [
            f"## webhooks — N = {r['n']:,} appointments per source, 1% changed",
            "",
            "| run | sync s | process s | requests (simulator) | requests (ledger) | load | |",
            "|---|---:|---:|---:|---:|---:|---|",
            row("Pexip first sync (full scan)", r["full_scan"]),
            row("Valomnia first sync", r["valomnia_full"]),
            row(
                f"Pexip events-only sync ({events['changed']:,} events)",
                events,
                f"deliveries reached the spool in {r['deliveries_wait_s']:.2f} s",
            ),
            row(f"Valomnia incremental ({valomnia['changed']:,} changed)", valomnia),
            row(
                "one change → row in the working warehouse",
                to_working,
                f"in the spool after {r['change_to_spool_s']:.3f} s; "
                f"change to row {r['change_to_row_s']:.2f} s",
            ),
            row(
                "one change → row in the published copy (events, models, publish)",
                to_published,
                f"in the spool after {to_published['change_to_spool_s']:.3f} s; publish "
                f"{to_published['publish_s']:.2f} s; change to published row "
                f"{r['change_to_published_s']:.2f} s",
            ),
            "",
            f"Events-only sync: {events['requests']} Pexip requests (must be 0), "
            f"{events['sync_s']:.2f} s against a Valomnia incremental's {valomnia['sync_s']:.2f} s "
            f"({events['sync_s'] / valomnia['sync_s']:.2f}×). 1-minute load average at the "
            f"start {r['loadavg_1min_at_start']}; {r['bench_wall_s']} s in all.",
        ]
    )


if __name__ == "__main__":
    main()
