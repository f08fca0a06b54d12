"""`make bench`, Postgres part: apptsync's full sync into Postgres against dlt's `rest_api`
into Postgres with its defaults, side by side, and the SQL models' build time there.

Environment (as bench/run.py): BENCH_N (100000), BENCH_PAGE_SIZE and BENCH_VALOMNIA_PAGE_SIZE
(the sources' own), BENCH_SEED (42), BENCH_KEEP; and BENCH_PG_PEER_MAX_N: measure the peer
on the first N appointments only and extrapolate linearly (default: the full N).

A throwaway Postgres cluster (Debian's server binaries, as the tests start it:
tests/postgres_server.py) on a free loopback port, a fresh database per run, stopped at the
end. Every run is a child process (bench/child.py), as in bench/run.py.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from report import Run, machine
from run import Bench, Settings
from sim import SimulatorProcess, pexip_token

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # the checkout: tests/postgres_server.py

from tests.postgres_server import PostgresServer, find_bindir, start_server, stop_server  # noqa: E402


class PostgresBench(Bench):
    server: PostgresServer

    def database(self, name: str) -> str:
        self.server.admin(f"create database {name} template template0")
        return self.server.url(name)

    def postgres_env(self, workspace: Path, url: str) -> dict[str, str]:
        env = self.apptsync_env(workspace)
        env.update(DESTINATION__POSTGRES__CREDENTIALS=url, APPTSYNC__DESTINATION="postgres")
        return env

    def full(self) -> None:  # type: ignore[override]
        workspace, url = self.work / "pg_apptsync", self.database("apptsync")
        for source, name in (("pexip_engage", "pg_full_pexip"), ("valomnia", "pg_full_valomnia")):
            api = "pexip" if source == "pexip_engage" else "valomnia"
            before = self.sim.requests(api)
            task = {"kind": "sync", "source": source}
            run = self.child(name, task, self.postgres_env(workspace, url), workspace)
            run.detail["api_requests"] = self.sim.requests(api) - before
        self.child("pg_models", {"kind": "models"}, self.postgres_env(workspace, url), workspace)

    def pg_peer(self) -> None:
        workspace, url = self.work / "pg_peer", self.database("peer")
        s = self.settings
        limit = os.environ.get("BENCH_PG_PEER_MAX_N")
        peer_n = min(s.n, int(limit)) if limit else s.n
        task = {
            "kind": "peer",
            "url": self.sim.url,
            "token": pexip_token(self.sim.url),
            "page_size": self.granted or s.page_size,
            "database": "",
            "postgres": url,
            "parquet": False,
            "max_records": peer_n if peer_n < s.n else None,
        }
        run = self.child("pg_peer", task, self.base_env(workspace), workspace)
        if peer_n < s.n and not run.error:
            run.measured_n = peer_n
            run.detail["measured_seconds"] = run.seconds
            run.seconds = run.seconds * s.n / peer_n


def render(n: int, runs: dict[str, Run], load: float) -> str:
    lines = [
        f"## apptsync benchmark, Postgres — N = {n:,} appointments per source "
        f"(1-minute load average at start {load:.2f})",
        "",
        "| run | seconds | appointments/s | peak RSS MiB | CPU s: run / simulator |",
        "|---|---:|---:|---:|---:|",
    ]
    rows = (
        ("peer (rest_api into Postgres, defaults: insert-values)", ("pg_peer",), n),
        ("apptsync full — pexip (Parquet via ADBC binary COPY)", ("pg_full_pexip",), n),
        ("apptsync full — valomnia", ("pg_full_valomnia",), n),
        ("apptsync full — total", ("pg_full_pexip", "pg_full_valomnia"), 2 * n),
        ("apptsync models on Postgres", ("pg_models",), 0),
    )
    for label, names, count in rows:
        picked = [runs[x] for x in names if x in runs]
        if len(picked) != len(names):
            continue
        failed = [r for r in picked if r.error]
        if failed:
            lines.append(f"| {label} | failed: {(failed[0].error or '')[:120]} | | | |")
            continue
        secs = sum(r.seconds for r in picked)
        note = f" (extrapolated from N={picked[0].measured_n:,})" if picked[0].measured_n else ""
        rate = f"{count / secs:,.0f}" if count and secs else ""
        cpu = sum(r.detail.get("cpu_s", 0.0) for r in picked)
        sim_cpu = sum(r.detail.get("simulator_cpu_s", 0.0) for r in picked)
        lines.append(
            f"| {label}{note} | {secs:.2f} | {rate} | {max(r.peak_rss_mib for r in picked):.0f} "
            f"| {cpu:.1f} / {sim_cpu:.1f} |"
        )
    return "\n".join(lines)


def main() -> int:
    bindir = find_bindir()
    if bindir is None:
        print("bench postgres: skipped, no server binaries (apt-get install postgresql)")
        return 0
    settings = Settings.from_env()
    work = Path(tempfile.mkdtemp(prefix="apptsync-bench-pg-"))
    load = os.getloadavg()[0]
    print(f"bench postgres: N={settings.n} (work folder {work})", file=sys.stderr)
    server = start_server(bindir)
    started = time.perf_counter()
    try:
        with SimulatorProcess(settings.n, settings.seed, work / "simulator.log") as sim:
            bench = PostgresBench(settings, sim, work)
            bench.server = server
            bench.warm()
            bench.pg_peer()
            bench.full()
    finally:
        stop_server(server)
        if not settings.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(render(settings.n, bench.runs, load))
    figures: dict[str, Any] = {
        "n": settings.n,
        "loadavg_1min_at_start": round(load, 2),
        "bench_wall_s": round(time.perf_counter() - started, 1),
        "machine": machine(),
        "runs": {name: vars(run) for name, run in bench.runs.items()},
    }
    text = json.dumps(figures, indent=2, default=str) + "\n"
    (BENCH / "last-run-postgres.json").write_text(text)
    return 0 if not any(r.error for r in bench.runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
