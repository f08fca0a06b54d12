"""`make bench`: apptsync against its floor and against plain dlt, side by side.

Environment:
    BENCH_N            appointments per source (default 100000)
    BENCH_ONLY         comma list of limit, peer, peer_parquet, full, publish, incremental,
                       latency (publish: models, then the published copy, after full and
                       after incremental)
    BENCH_PEER_MAX_N   measure peer/peer_parquet on the first N appointments only and
                       extrapolate linearly (default: the full BENCH_N, except that `peer`
                       is capped so its memory fits the machine, see PEER_MIB_PER_APPOINTMENT)
    BENCH_PAGE_SIZE    Pexip page size asked for by every client: apptsync, peer, the saved
                       pages (default: the source's own, pexip_engage.settings.DEFAULT_PAGE_SIZE);
                       page counts use what the simulator grants (`meta.limit`)
    BENCH_VALOMNIA_PAGE_SIZE  Valomnia page size (default: the source's own)
    BENCH_SEED         simulator seed (42)
    BENCH_PROFILE      comma list of runs to profile with pyinstrument, e.g. full_pexip
                       (needs `pip install pyinstrument`; distorts that run's timing)
    BENCH_KEEP         keep the temporary folder (warehouses, dlt folders, pages)

Every measured run is a child process (bench/child.py) with a fresh DLT_DATA_DIR and DuckDB
file; its peak RSS comes from wait4. The simulator is a process of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ledger import ledger_row
from limit import save_pages
from report import Run, machine, render, targets
from sim import (
    PEXIP_CLIENT_ID,
    PEXIP_CLIENT_SECRET,
    VALOMNIA_PASSWORD,
    VALOMNIA_USERNAME,
    SimulatorProcess,
    granted_page_size,
    pages_needed,
    pexip_token,
    read_valomnia,
)

from pipelines.sources.pexip_engage.settings import DEFAULT_PAGE_SIZE as PEXIP_PAGE_SIZE
from pipelines.sources.valomnia.settings import DEFAULT_PAGE_SIZE as VALOMNIA_PAGE_SIZE

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
STEPS = ("limit", "peer", "peer_parquet", "full", "publish", "incremental", "latency")
LATENCY_MS = 50
PEXIP_CONCURRENCY_LIMIT = 4
CHANGED_FRACTION = 0.01
# The target for a full Pexip sync: at most N / granted page size requests, plus a
# handful (a refused page size halved, a retry, a drift pass).
REQUESTS_HANDFUL = 5
# `peer` (dlt's insert-values loader on DuckDB) peaks in its load step at about 0.3 MiB per
# appointment: 2,182 MiB at N=5,000, 3,500-4,200 at 10,000, 6,838 at 20,000, 9,352 at 30,000
# (dlt 1.31, DuckDB 2.0). At 100,000 that is ~30 GiB, more than this 24 GiB box, so by default
# `peer` is measured at the largest N (a multiple of 10,000) that fits in half the memory
# available, and extrapolated linearly (its time grows faster than N: this flatters it).
PEER_MIB_PER_APPOINTMENT = 0.35
# Any child above this share of the memory available at start is killed, not the box.
KILL_AT_AVAILABLE_SHARE = 0.8
CLEARED_ENV_PREFIXES = (
    "SOURCES__",
    "DESTINATION__",
    "NORMALIZE__",
    "RUNTIME__",
    "EXTRACT__",
    "LOAD__",
    "DATA_WRITER__",
    "DLT_",
)


@dataclass
class Settings:
    n: int
    only: tuple[str, ...]
    peer_max_n: int | None
    page_size: int
    valomnia_page_size: int
    seed: int
    profile: tuple[str, ...]
    keep: bool

    def peer_n(self, parquet: bool) -> int:
        """How many appointments a peer run reads (it is extrapolated to n when fewer)."""
        if self.peer_max_n is not None:
            return max(self.page_size, min(self.n, self.peer_max_n))
        if parquet:
            return self.n
        fits = available_mib() / 2 / PEER_MIB_PER_APPOINTMENT
        return self.n if self.n <= fits else max(10_000, int(fits // 10_000) * 10_000)

    @classmethod
    def from_env(cls) -> Settings:
        n = int(os.environ.get("BENCH_N", "100000"))
        only = tuple(s.strip() for s in os.environ.get("BENCH_ONLY", "").split(",") if s.strip())
        unknown = set(only) - set(STEPS)
        if unknown:
            raise SystemExit(f"BENCH_ONLY: unknown {sorted(unknown)}; known: {', '.join(STEPS)}")
        peer_max = os.environ.get("BENCH_PEER_MAX_N")
        profile = tuple(
            s.strip() for s in os.environ.get("BENCH_PROFILE", "").split(",") if s.strip()
        )
        return cls(
            n=n,
            only=only or STEPS,
            peer_max_n=int(peer_max) if peer_max else None,
            page_size=int(os.environ.get("BENCH_PAGE_SIZE", PEXIP_PAGE_SIZE)),
            valomnia_page_size=int(os.environ.get("BENCH_VALOMNIA_PAGE_SIZE", VALOMNIA_PAGE_SIZE)),
            seed=int(os.environ.get("BENCH_SEED", "42")),
            profile=profile,
            keep=bool(os.environ.get("BENCH_KEEP")),
        )


@dataclass
class Bench:
    settings: Settings
    sim: SimulatorProcess
    work: Path
    runs: dict[str, Run] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    granted: int = 0
    """The Pexip page size the simulator grants for `settings.page_size` (`meta.limit`)."""

    @property
    def pexip_pages(self) -> int:
        return pages_needed(self.settings.n, self.granted or self.settings.page_size)

    # --- child processes ---------------------------------------------------------------------

    def child(self, name: str, task: dict[str, Any], env: dict[str, str], cwd: Path) -> Run:
        """Run one task in a fresh process; its peak RSS is its own (wait4)."""
        cwd.mkdir(parents=True, exist_ok=True)
        result = self.work / f"{name}.result.json"
        task = {**task, "result": str(result)}
        if name in self.settings.profile:
            OUT.mkdir(exist_ok=True)
            task["profile"] = str(OUT / f"profile-{name}-{self.settings.n}")
        log = (self.work / f"{name}.log").open("wb")
        print(f"  {name} ...", end="", flush=True, file=sys.stderr)
        load_before = os.getloadavg()[0]
        sim_cpu = self.sim.cpu_seconds()
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, str(BENCH / "child.py"), json.dumps(task)],
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        cap_mib = available_mib() * KILL_AT_AVAILABLE_SHARE
        watchdog = threading.Thread(target=_kill_above, args=(proc, cap_mib), daemon=True)
        watchdog.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        sim_cpu = self.sim.cpu_seconds() - sim_cpu
        log.close()
        out: dict[str, Any] = json.loads(result.read_text()) if result.exists() else {}
        error = out.get("error")
        if proc.returncode != 0 and not error:
            tail = (self.work / f"{name}.log").read_text(errors="replace").strip()[-400:]
            error = f"exit {proc.returncode}: {tail}"
        run = Run(
            name=name,
            seconds=float(out.get("seconds", wall)),
            process_seconds=wall,
            peak_rss_mib=usage.ru_maxrss / 1024,
            error=error,
            detail={k: v for k, v in out.items() if k not in ("seconds", "error")},
        )
        # CPU of this process and of the simulator meanwhile: on two cores, together they
        # tell a sync that waits on the server from one that computes
        run.detail.setdefault("cpu_s", round(usage.ru_utime + usage.ru_stime, 2))
        run.detail["process_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
        run.detail["simulator_cpu_s"] = round(sim_cpu, 2)
        run.detail["loadavg_1min_before"] = round(load_before, 2)
        self.runs[name] = run
        state = f"failed: {error}" if error else f"{run.seconds:.2f} s, {run.peak_rss_mib:.0f} MiB"
        print(
            f" {state}, cpu {run.detail['cpu_s']:.1f} s (simulator {sim_cpu:.1f} s)",
            file=sys.stderr,
        )
        return run

    def base_env(self, workspace: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED_ENV_PREFIXES)}
        env.update(
            DLT_DATA_DIR=str(workspace / "dlt"),
            DESTINATION__DUCKDB__CREDENTIALS=str(workspace / "warehouse.duckdb"),
            RUNTIME__LOG_LEVEL="WARNING",
            RUNTIME__DLTHUB_TELEMETRY="false",
            PYTHONPATH=str(BENCH),
        )
        return env

    def apptsync_env(self, workspace: Path) -> dict[str, str]:
        """Configured like tests/conftest.py, with production defaults but the page size."""
        url, size = self.sim.url, str(self.settings.page_size)
        valomnia_size = str(self.settings.valomnia_page_size)
        env = self.base_env(workspace)
        pexip = {
            "BASE_URL": url,
            "TOKEN_URL": f"{url}/realms/acme/protocol/openid-connect/token",
            "ENTERPRISE": "acme",
            "CLIENT_ID": PEXIP_CLIENT_ID,
            "CLIENT_SECRET": PEXIP_CLIENT_SECRET,
            "PAGE_SIZE": size,
        }
        valomnia = {
            "BASE_URL": url,
            "USERNAME": VALOMNIA_USERNAME,
            "PASSWORD": VALOMNIA_PASSWORD,
            "PAGE_SIZE": valomnia_size,
        }
        env.update({f"SOURCES__PEXIP_ENGAGE__{k}": v for k, v in pexip.items()})
        env.update({f"SOURCES__VALOMNIA__{k}": v for k, v in valomnia.items()})
        return env

    def sync(self, name: str, source: str, workspace: Path) -> Run:
        api = "pexip" if source == "pexip_engage" else "valomnia"
        before = self.sim.requests(api)
        run = self.child(
            name, {"kind": "sync", "source": source}, self.apptsync_env(workspace), workspace
        )
        run.detail["api_requests"] = self.sim.requests(api) - before
        run.detail["ledger"] = ledger_row(workspace / "warehouse.duckdb", source)
        return run

    # --- the steps ---------------------------------------------------------------------------

    def warm(self) -> None:
        """Read both collections once, untimed: the simulator then serves from its byte cache
        (when the collection fits in it), so its CPU takes little from the measured runs."""
        s, pages = self.settings, self.work / "pages"
        self.granted = granted_page_size(self.sim.url, s.page_size)
        self.extra["pexip_granted_page_size"] = self.granted
        started = time.perf_counter()
        saved = save_pages(self.sim.url, s.n, self.granted, pages)
        self.extra["pages_fetch_s"] = round(time.perf_counter() - started, 3)
        self.extra["pages_saved_records"] = saved
        self.extra["pages_bytes"] = sum(p.stat().st_size for p in pages.iterdir())
        started = time.perf_counter()
        self.extra["valomnia_warm_records"] = read_valomnia(self.sim.url, s.n, s.valomnia_page_size)
        self.extra["valomnia_fetch_s"] = round(time.perf_counter() - started, 3)
        print(
            f"  simulator warmed: pexip {self.extra['pages_fetch_s']:.1f} s, "
            f"valomnia {self.extra['valomnia_fetch_s']:.1f} s (untimed)",
            file=sys.stderr,
        )

    def limit(self) -> None:
        pages = self.work / "pages"
        workspace = self.work / "limit"
        task = {"kind": "limit", "pages": str(pages), "database": str(workspace / "limit.duckdb")}
        self.child("limit", task, self.base_env(workspace), workspace)

    def peer(self, parquet: bool) -> None:
        name = "peer_parquet" if parquet else "peer"
        workspace = self.work / name
        s = self.settings
        peer_n = s.peer_n(parquet)
        task = {
            "kind": "peer",
            "url": self.sim.url,
            "token": pexip_token(self.sim.url),
            "page_size": self.granted or s.page_size,
            "database": str(workspace / "warehouse.duckdb"),
            "parquet": parquet,
            "max_records": peer_n if peer_n < s.n else None,
        }
        run = self.child(name, task, self.base_env(workspace), workspace)
        if peer_n < s.n and not run.error:
            run.measured_n = peer_n
            run.detail["measured_seconds"] = run.seconds
            run.seconds = run.seconds * s.n / peer_n

    def full(self) -> None:
        workspace = self.work / "apptsync"
        self.sync("full_pexip", "pexip_engage", workspace)
        self.sync("full_valomnia", "valomnia", workspace)

    def incremental(self) -> None:
        workspace = self.work / "apptsync"
        for api in ("pexip", "valomnia"):
            changed = self.sim.admin(api, "update", {"fraction": CHANGED_FRACTION})
            self.extra[f"changed_{api}"] = len(changed.get("ids", []))
        self.sync("incremental_pexip", "pexip_engage", workspace)
        self.sync("incremental_valomnia", "valomnia", workspace)

    def publish(self, name: str) -> None:
        """Models (untimed), then the publish a sync ends with, in the full sync's warehouse."""
        workspace = self.work / "apptsync"
        self.child(name, {"kind": "publish"}, self.apptsync_env(workspace), workspace)

    def latency(self) -> None:
        fault = {"latency_ms": LATENCY_MS, "max_concurrent": PEXIP_CONCURRENCY_LIMIT}
        self.sim.admin("pexip", "faults", fault)
        try:
            self.sync("latency", "pexip_engage", self.work / "latency")
        finally:
            self.sim.admin("pexip", "faults", {"clear": True})
        floor = self.pexip_pages * LATENCY_MS / 1000 / PEXIP_CONCURRENCY_LIMIT
        self.extra["latency_floor_s"] = floor

    def run(self) -> None:
        only = self.settings.only
        self.warm()
        if "limit" in only:
            self.limit()
        if "peer" in only:
            self.peer(parquet=False)
        if "peer_parquet" in only:
            self.peer(parquet=True)
        if "full" in only or "incremental" in only or "publish" in only:
            self.full()
        if "publish" in only:
            self.publish("publish")
        if "incremental" in only:
            self.incremental()
            if "publish" in only:
                self.publish("publish_incremental")
        if "latency" in only:
            self.latency()


def available_mib() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("inf")


def _kill_above(proc: subprocess.Popen[bytes], cap_mib: float) -> None:
    """Kill the child (by its pid) before it takes the machine down with it."""
    page = os.sysconf("SC_PAGE_SIZE")
    while proc.returncode is None:
        try:
            with open(f"/proc/{proc.pid}/statm") as f:
                rss = int(f.read().split()[1]) * page / 2**20
        except (OSError, ValueError, IndexError):
            return
        if rss > cap_mib:
            print(f" RSS {rss:.0f} MiB over {cap_mib:.0f} MiB: killed", file=sys.stderr)
            proc.kill()
            return
        time.sleep(0.2)


def main() -> int:
    settings = Settings.from_env()
    work = Path(tempfile.mkdtemp(prefix="apptsync-bench-"))
    print(
        f"bench: N={settings.n} page_size={settings.page_size} runs={','.join(settings.only)} "
        f"(work folder {work})",
        file=sys.stderr,
    )
    started = time.perf_counter()
    load = os.getloadavg()[0]
    if load > 0.5:
        print(
            f"  note: 1-minute load average is {load:.2f} before the start; another "
            "process competes for the cores and the figures will be slower",
            file=sys.stderr,
        )
    try:
        with SimulatorProcess(settings.n, settings.seed, work / "simulator.log") as sim:
            print(f"  simulator up at {sim.url}", file=sys.stderr)
            bench = Bench(settings, sim, work)
            bench.run()
    finally:
        if not settings.keep:
            shutil.rmtree(work, ignore_errors=True)
    bench.extra["bench_wall_s"] = round(time.perf_counter() - started, 1)
    bench.extra["loadavg_1min_at_start"] = round(load, 2)
    figures = summarize(bench)
    print(render(figures, bench.runs))
    write(figures)
    return 0 if not any(r.error for r in bench.runs.values()) else 1


def summarize(bench: Bench) -> dict[str, Any]:
    s, runs = bench.settings, bench.runs

    def seconds(*names: str) -> float | None:
        picked = [runs[n] for n in names if n in runs]
        if len(picked) != len(names) or any(r.error for r in picked):
            return None
        return round(sum(r.seconds for r in picked), 3)

    apptsync = [r for n, r in runs.items() if n.startswith(("full", "incremental", "latency"))]
    figures: dict[str, Any] = {
        "n": s.n,
        "limit_s": seconds("limit"),
        "peer_s": seconds("peer"),
        "peer_parquet_s": seconds("peer_parquet"),
        "full_s": seconds("full_pexip", "full_valomnia"),
        "incremental_s": seconds("incremental_pexip", "incremental_valomnia"),
        "latency_s": seconds("latency"),
        "latency_floor_s": bench.extra.get("latency_floor_s"),
        "peak_rss_mib": round(max(r.peak_rss_mib for r in apptsync), 1) if apptsync else None,
        "page_size": s.page_size,
        "granted_page_size": bench.granted,
        "valomnia_page_size": s.valomnia_page_size,
        "pages": bench.pexip_pages,
        "seed": s.seed,
        "peer_measured_n": runs["peer"].measured_n or s.n if "peer" in runs else None,
        "peer_parquet_measured_n": (
            runs["peer_parquet"].measured_n or s.n if "peer_parquet" in runs else None
        ),
        "full_pexip_s": seconds("full_pexip"),
        "full_valomnia_s": seconds("full_valomnia"),
        "incremental_pexip_s": seconds("incremental_pexip"),
        "incremental_valomnia_s": seconds("incremental_valomnia"),
        "publish_s": seconds("publish"),
        "publish_incremental_s": seconds("publish_incremental"),
        **request_detail(runs, bench.pexip_pages),
        **publish_detail(runs),
        **bench.extra,
        "machine": machine(),
        "runs": {name: asdict(run) for name, run in runs.items()},
    }
    figures["targets"] = targets(figures, previous_runs(s.n))
    return figures


def request_detail(runs: dict[str, Run], pages: int) -> dict[str, Any]:
    """Requests per sync: the simulator's count of appointments requests, and the ledger's
    (`ops.sync_runs.requests`, what the sync counted itself); both exclude tokens."""
    figures: dict[str, Any] = {"requests_target": pages + REQUESTS_HANDFUL}
    for name in ("full_pexip", "incremental_pexip", "latency", "full_valomnia"):
        run = runs.get(name)
        if run is None or run.error:
            continue
        figures[f"{name}_requests"] = run.detail.get("api_requests")
        figures[f"{name}_ledger_requests"] = (run.detail.get("ledger") or {}).get("requests")
    return figures


def publish_detail(runs: dict[str, Run]) -> dict[str, Any]:
    """The publish run's side figures: nothing-changed publish, dashboard queries, size."""
    run = runs.get("publish")
    if run is None or run.error:
        return {}
    keys = (
        "unchanged_s",
        "published_mib",
        "dashboard_views_s",
        "dashboard_tables_s",
        "publish_cpu_s",
    )
    figures = {f"publish_{k.removeprefix('publish_')}": run.detail.get(k) for k in keys}
    syncs = [runs.get(name) for name in ("full_pexip", "full_valomnia")]
    if all(r is not None and not r.error for r in syncs):
        figures["full_cpu_s"] = round(sum(r.detail.get("cpu_s", 0.0) for r in syncs if r), 2)
    return figures


def previous_runs(n: int) -> dict[int, dict[str, Any]]:
    """Earlier runs at other N (bench/out/run-N.json), for the flat-memory target."""
    found = {}
    for path in OUT.glob("run-*.json") if OUT.exists() else []:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if data.get("n") != n and data.get("peak_rss_mib"):
            found[int(data["n"])] = data
    return found


def write(figures: dict[str, Any]) -> None:
    text = json.dumps(figures, indent=2, default=str) + "\n"
    (BENCH / "last-run.json").write_text(text)
    if figures.get("peak_rss_mib") is not None:  # kept per N for the flat-memory target
        OUT.mkdir(exist_ok=True)
        (OUT / f"run-{figures['n']}.json").write_text(text)


if __name__ == "__main__":
    sys.exit(main())
