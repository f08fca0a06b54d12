"""`apptsync` command line: parses arguments and calls library functions, nothing more."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipelines.config import env_name
from pipelines.load.pipeline import SyncResult, run_source
from pipelines.redaction import get_logger, redactor
from pipelines.sources import SOURCES
from pipelines.warehouse import database_path

logger = get_logger("apptsync")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a clear one-line error, not a traceback, at 3 a.m.
        print(f"error: {redactor.redact(str(exc))}", file=sys.stderr)
        if args.verbose:
            raise
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="apptsync", description="Sync Pexip Engage and Valomnia appointments into DuckDB."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs and tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    sync = sub.add_parser("sync", help="sync one or every source, then build the SQL models")
    sync.add_argument("--source", choices=list(SOURCES), help="only this source (default: all)")
    reconciling = ", ".join(n for n, e in SOURCES.items() if "reconcile" in e.run_options)
    sync.add_argument(
        "--reconcile",
        action="store_true",
        help=f"page every id and mark deletions ({reconciling}; the others always do)",
    )
    sync.add_argument("--no-models", action="store_true", help="skip building the SQL models")
    sync.set_defaults(func=cmd_sync)

    models = sub.add_parser("models", help="build the SQL models in dependency order")
    models.add_argument("--select", help="build this model and what it depends on")
    models.set_defaults(func=cmd_models)

    check = sub.add_parser("check", help="run the SQL audits; exit 1 when any fails")
    check.set_defaults(func=cmd_check)

    status = sub.add_parser("status", help="cursors, last loads and row counts per source")
    status.set_defaults(func=cmd_status)

    export = sub.add_parser("export", help="write a model or table to CSV or Parquet")
    export.add_argument("relation", help="e.g. reporting.fct_appointments")
    export.add_argument("--output", "-o", required=True, type=Path)
    export.add_argument("--format", choices=("csv", "parquet"), help="default: from the suffix")
    export.set_defaults(func=cmd_export)

    demo = sub.add_parser("demo", help="simulator → both syncs → models → summary")
    demo.add_argument("--appointments", type=int, default=5000, help="per source")
    demo.add_argument("--seed", type=int, default=42)
    demo.set_defaults(func=cmd_demo)

    simulate = sub.add_parser("simulate", help="serve the bundled API simulator")
    simulate.add_argument("--port", type=int, default=8765)
    simulate.add_argument("--appointments", type=int, default=5000, help="per source")
    simulate.add_argument("--seed", type=int, default=42)
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.set_defaults(func=cmd_simulate)
    return parser


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def cmd_sync(args: argparse.Namespace) -> int:
    sources = [args.source] if args.source else list(SOURCES)
    results = sync_sources(sources, reconcile=args.reconcile)
    for result in results:
        print(format_result(result))
    if not args.no_models:
        _build_models()
    return 0 if all(r.ok for r in results) else 1


def sync_sources(sources: Sequence[str], *, reconcile: bool = False) -> list[SyncResult]:
    """Each source in its own pipeline: one failing never stops the next."""
    return [run_source(s, reconcile=reconcile) for s in sources]


def format_result(result: SyncResult) -> str:
    if not result.ok:
        return f"{result.source}: FAILED after {result.seconds:.1f}s: {result.error}"
    written = ", ".join(f"{t} {n}" for t, n in result.rows.items() if not t.startswith("_"))
    extra = []
    if result.rows.get("_quarantine"):
        extra.append(f"{result.rows['_quarantine']} quarantined")
    if result.marked_deleted:
        extra.append(f"{result.marked_deleted} marked deleted")
    if result.stale_child_rows_removed:
        extra.append(f"{result.stale_child_rows_removed} stale child rows replaced")
    tail = f" ({'; '.join(extra)})" if extra else ""
    return f"{result.source}: ok in {result.seconds:.1f}s, wrote {written or 'nothing new'}{tail}"


def _build_models(select: str | None = None) -> list[str]:
    from pipelines.models import build_models, open_sql_client

    with open_sql_client() as client:
        built = build_models(client, select=select)
    print(f"models: built {len(built)} views")
    return built


def cmd_models(args: argparse.Namespace) -> int:
    for name in _build_models(args.select):
        print(f"  {name}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from pipelines.models import format_audit_report, open_sql_client, run_audits

    with open_sql_client() as client:
        results = run_audits(client)
    print(format_audit_report(results))
    return 1 if any(r.failing_count for r in results) else 0


def cmd_status(args: argparse.Namespace) -> int:
    from pipelines.ops.status import source_status

    for source in SOURCES:
        print(source_status(source))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pipelines.ops.status import export_relation

    count = export_relation(args.relation, args.output, args.format)
    print(f"wrote {count} rows of {args.relation} to {args.output}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from pipelines.simulator import serve

    serve(port=args.port, appointments=args.appointments, seed=args.seed, host=args.host)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole product on one machine: the simulator stands in for both APIs."""
    from pipelines.models import open_sql_client, run_audits
    from pipelines.simulator import Simulator

    started = time.monotonic()
    with Simulator(appointments=args.appointments, seed=args.seed) as sim:
        _point_sources_at(sim)
        print(f"simulator: {args.appointments} appointments per source at {sim.url}")
        results = sync_sources(list(SOURCES))
    for result in results:
        print(format_result(result))
    built = _build_models()
    with open_sql_client() as client:
        audits = run_audits(client)
    failing = [a.name for a in audits if a.failing_count]
    print(_summary(database_path()))
    print(
        f"audits: {len(audits) - len(failing)} of {len(audits)} pass"
        + (f" (failing: {', '.join(failing)})" if failing else "")
    )
    print(
        f"done in {time.monotonic() - started:.1f}s: {len(built)} views in {database_path()}; "
        "try `apptsync export reporting.rpt_daily_appointments -o daily.csv`"
    )
    return 0 if all(r.ok for r in results) and not failing else 1


def _point_sources_at(sim: Any) -> None:
    """Configure every source through dlt's environment variables, as a user would."""
    for entry in SOURCES.values():
        for key, value in entry.simulator_settings(sim).items():
            os.environ[env_name(f"{entry.config_section}.{key}")] = value


def _summary(database: str) -> str:
    from pipelines.ops.status import warehouse_counts

    lines = [f"warehouse {database}:"]
    for schema, tables in warehouse_counts(database).items():
        for table, count in tables.items():
            lines.append(f"  {schema + '.' + table:<62} {count:>9,}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
