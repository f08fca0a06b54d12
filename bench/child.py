"""One measured task in a process of its own: `python bench/child.py '<json task>'`.

Why a process per task: peak RSS is a per-process figure, and a sync that ran before must
not lend this one its warm imports, caches or leaked memory. The parent reads the peak from
`wait4`; this process reports its own work time (after imports, the same for every task)
and an RSS timeline, so a peak can be put in a dlt step.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")


class RssSampler:
    """Samples this process's RSS every `interval` seconds, from /proc/self/statm."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.t0 = time.time()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), rss_mib()))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self) -> tuple[float, float]:
        """(unix time, MiB) of the highest sample."""
        return max(self.samples, key=lambda s: s[1]) if self.samples else (self.t0, 0.0)


def rss_mib() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE / 2**20
    except OSError:
        return 0.0


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    kind = task["kind"]
    if kind == "limit":
        from limit import run_limit

        return run_limit(Path(task["pages"]), Path(task["database"]))
    if kind == "peer":
        from peer import run_peer

        return run_peer(
            task["url"],
            task["token"],
            task["page_size"],
            task["database"],
            parquet=task["parquet"],
            max_records=task.get("max_records"),
            postgres=task.get("postgres"),
        )
    if kind == "sync":
        return run_sync(task["source"])
    if kind == "publish":
        return run_publish()
    if kind == "models":
        return run_models()
    raise ValueError(f"unknown task kind {kind!r}")


def run_sync(source: str) -> dict[str, Any]:
    from peer import step_seconds, step_windows

    from pipelines.connection import hold_warehouse
    from pipelines.load.pipeline import make_pipeline, run_source

    with hold_warehouse():  # as `apptsync sync` runs it: one connection for the whole run
        result = run_source(source)
    finished = time.perf_counter()  # reading the trace back below is not the sync's work
    out: dict[str, Any] = {
        "finished": finished,
        "ok": result.ok,
        "error": result.error,
        "rows": result.rows,
        "stale_child_rows_removed": result.stale_child_rows_removed,
        "marked_deleted": result.marked_deleted,
    }
    pipeline = make_pipeline(source)
    out["steps"] = step_seconds(pipeline)
    out["step_windows"] = step_windows(pipeline)
    return out


# What a dashboard asks of the reporting layer: a whole rollup, a grouped fact, a top 20.
DASHBOARD_QUERIES = (
    "select * from reporting.rpt_daily_appointments",
    "select * from reporting.rpt_weekly_no_show_rate",
    "select source, status, count(*), avg(lead_time_hours) "
    "from reporting.fct_appointments group by all",
    "select * from reporting.rpt_employee_workload order by all limit 20",
    "select * from reporting.rpt_answer_distribution",
)


def run_publish() -> dict[str, Any]:
    """Build the models (untimed), then time the publish, a second publish with nothing
    changed, and the dashboard queries on the working views against the published tables.
    `measured_seconds` is the publish alone."""
    import duckdb

    from pipelines.connection import hold_warehouse
    from pipelines.models import build_models, open_sql_client
    from pipelines.publish import publish

    with hold_warehouse() as working:
        assert working is not None
        started = time.perf_counter()
        with open_sql_client() as client:
            build_models(client)
        models_s = time.perf_counter() - started
        started, cpu_started = time.perf_counter(), time.process_time()
        result = publish()
        publish_s, publish_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
        started = time.perf_counter()
        again = publish()
        unchanged_s = time.perf_counter() - started
        views_s = dashboard_seconds(working)
    with duckdb.connect(result.path, read_only=True) as published:
        tables_s = dashboard_seconds(published)
    return {
        "measured_seconds": publish_s,
        "models_s": round(models_s, 3),
        "publish_cpu_s": round(publish_cpu_s, 2),
        "published": result.published,
        "publish_steps": result.steps,
        "unchanged_s": round(unchanged_s, 3),
        "unchanged_copied": again.published,
        "published_mib": round(os.path.getsize(result.path) / 2**20, 1),
        "dashboard_views_s": round(views_s, 4),
        "dashboard_tables_s": round(tables_s, 4),
    }


def run_models() -> dict[str, Any]:
    """Build every SQL model in the configured warehouse (`apptsync models`), timed."""
    from pipelines.destinations import configured_destination
    from pipelines.models import build_models, open_sql_client

    with configured_destination().hold(), open_sql_client() as client:
        built = build_models(client)
    return {"finished": time.perf_counter(), "models": len(built)}


def dashboard_seconds(con: Any) -> float:
    """Best of three runs of all the dashboard queries, fully fetched."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for sql in DASHBOARD_QUERIES:
            con.execute(sql).fetchall()
        best = min(best, time.perf_counter() - started)
    return best


def preload(kind: str) -> None:
    """Import what the task needs before the clock starts, so imports are never timed."""
    import duckdb  # noqa: F401

    if kind in ("peer", "sync", "publish", "models"):
        import dlt  # noqa: F401
        import psycopg2  # noqa: F401
        import pyarrow  # noqa: F401
        from dlt.destinations import duckdb as _  # noqa: F401
        from dlt.destinations import postgres as _pg  # noqa: F401
    if kind == "peer":
        from dlt.sources.rest_api import rest_api_source  # noqa: F401
    if kind in ("publish", "models"):
        import pipelines.models  # noqa: F401
        import pipelines.publish  # noqa: F401
    if kind == "sync":
        import pipelines.connection  # noqa: F401
        import pipelines.load.pipeline  # noqa: F401
        import pipelines.sources.pexip_engage  # noqa: F401  (the sources import httpx, msgspec, ...)
        import pipelines.sources.valomnia  # noqa: F401


def main() -> int:
    task = json.loads(sys.argv[1])
    preload(task["kind"])
    profiler = None
    if task.get("profile"):
        from pyinstrument import Profiler  # only when asked for: not a project dependency

        profiler = Profiler(interval=0.005)
        profiler.start()
    error = None
    with RssSampler() as sampler:
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            out = run_task(task)
        except Exception as exc:  # reported, the parent decides what a failure means
            out, error = {}, f"{type(exc).__name__}: {exc}"
        seconds = out.pop("finished", time.perf_counter()) - started
        seconds = out.pop("measured_seconds", seconds)  # a task that times only its part
        cpu = time.process_time() - cpu_started  # all threads of this process
    if profiler is not None:
        profiler.stop()
        base = Path(task["profile"])
        base.with_suffix(".txt").write_text(profiler.output_text(unicode=True, show_all=True))
        flat = profiler.output_text(unicode=True, flat=True, show_all=True)
        base.with_suffix(".flat.txt").write_text(flat)
        base.with_suffix(".html").write_text(profiler.output_html())
        if profiler.last_session is not None:
            profiler.last_session.save(str(base.with_suffix(".pyisession")))
    peak_at, peak = sampler.peak()
    windows = out.get("step_windows") or {}
    out.update(
        seconds=seconds,
        cpu_s=round(cpu, 2),
        error=out.get("error") or error,
        self_maxrss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        sampled_peak_mib=round(peak, 1),
        peak_in_step=next(
            (s for s, (a, b) in windows.items() if a <= peak_at <= b),
            "outside dlt's steps" if windows else None,
        ),
    )
    # the RSS timeline, relative to the start of the work, and dlt's steps on the same clock
    t0 = sampler.t0
    out["rss_timeline"] = [(round(t - t0, 1), round(m)) for t, m in sampler.samples[::5]]
    out["step_offsets"] = {s: (round(a - t0, 2), round(b - t0, 2)) for s, (a, b) in windows.items()}
    out.pop("step_windows", None)
    Path(task["result"]).write_text(json.dumps(out, default=str))
    return 0 if not out["error"] else 1


if __name__ == "__main__":
    sys.exit(main())
