"""`apptsync` command line: parses arguments and calls library functions, nothing more."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from dlt.common.configuration.providers.toml import TomlProviderReadException

from pipelines.config import ConfigError, broken_settings_file, env_name
from pipelines.destinations import DESTINATION_KEY, DESTINATIONS, configured_destination
from pipelines.destinations.duckdb import DuckDbDestination
from pipelines.extract.metrics import RunMetrics
from pipelines.load.pipeline import SyncResult, run_source
from pipelines.ops.exit_codes import ExitCode, help_epilog, sync_exit_code
from pipelines.ops.export import FORMATS as EXPORT_FORMATS
from pipelines.ops.lock import LockHeld, describe_holder, lock_holder, run_lock
from pipelines.ops.logs import LOG_FORMATS, setup_logging
from pipelines.redaction import get_logger, redactor
from pipelines.sources import SOURCES
from pipelines.warehouse import WarehouseMissing, database_path, require_warehouse

logger = get_logger("apptsync")

PROJECT_DIR_ENV = "APPTSYNC_PROJECT_DIR"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments:
        parser.print_help()
        return 0
    args = parser.parse_args(arguments)
    args.verbose = bool(getattr(args, "verbose", False))
    args.quiet = bool(getattr(args, "quiet", False))
    args.log_format = getattr(args, "log_format", None) or "text"
    if getattr(args, "destination", None):  # before dlt first reads apptsync.destination
        os.environ[env_name(DESTINATION_KEY)] = args.destination
    _absolute_paths(args)  # before --project-dir moves the working folder
    try:
        enter_project(args.project_dir)
    except TomlProviderReadException as broken:
        print(f"error: {broken_settings_file(broken.full_paths, str(broken))}", file=sys.stderr)
        return 2
    setup_logging(args.verbose, args.quiet, args.log_format)
    global _QUIET
    _QUIET = args.quiet
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except LockHeld as held:  # cron fired again while a run is still going: not a failure
        print(held, file=sys.stderr)
        return ExitCode.LOCKED
    except ConfigError as exc:
        print(f"error: {redactor.redact(str(exc))}", file=sys.stderr)
        return ExitCode.USAGE
    except BrokenPipeError:
        _silence_stdout()  # `apptsync status | head`: the reader left; not an error
        return 0
    except WarehouseMissing as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    except Exception as exc:  # a clear one-line error, not a traceback, at 3 a.m.
        print(f"error: {redactor.redact(str(exc))}", file=sys.stderr)
        if args.verbose:
            raise
        return int(getattr(exc, "exit_code", 1))  # e.g. 75 when the warehouse stayed locked


def enter_project(project_dir: str | None) -> None:
    """Work in the project folder (`--project-dir`, else `APPTSYNC_PROJECT_DIR`), as dbt
    does: `.dlt/` settings and relative paths mean that folder's, wherever cron starts.
    Must run before dlt first reads its configuration, which it then keeps."""
    folder = project_dir or os.environ.get(PROJECT_DIR_ENV)
    if folder:
        target = Path(folder).expanduser()
        if not (target / ".dlt").is_dir():
            raise SystemExit(f"error: --project-dir {target} has no .dlt/ folder")
        os.chdir(target)
    _telemetry_off_unless_asked()


def _telemetry_off_unless_asked() -> None:
    """dlt reports usage unless told not to; apptsync asks it not to, wherever it runs,
    unless the user switched it on (`runtime.dlthub_telemetry`)."""
    import dlt

    if dlt.config.get("runtime.dlthub_telemetry") is None:
        os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"


def _absolute_paths(args: argparse.Namespace) -> None:
    for name, value in vars(args).items():
        if isinstance(value, Path):
            setattr(args, name, value.expanduser().absolute())


def _path_or_stdout(text: str) -> Path | str:
    return text if text == "-" else Path(text)


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


_QUIET = False


def say(text: str) -> None:
    """What a command reports when all is well: nothing with -q (cron mails nothing)."""
    if not _QUIET:
        print(text)


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


class _CommandParser(argparse.ArgumentParser):
    """Every subcommand accepts the global options after its name too (`sync -v`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _add_global_options(self, argparse.SUPPRESS)


def _add_global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    # SUPPRESS on subcommands: a default there would overwrite what was given before the name
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="debug logs and tracebacks"
    )
    noise.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="print only failures"
    )
    parser.add_argument(
        "--project-dir",
        default=default,
        metavar="DIR",
        help=f"the folder holding .dlt/ (default: ${PROJECT_DIR_ENV}, else the current folder)",
    )
    parser.add_argument(
        "--log-format", choices=LOG_FORMATS, default=default, help="json: one object per line"
    )
    parser.add_argument(
        "--destination",
        choices=list(DESTINATIONS),
        default=default,
        help=f"the warehouse (default: {DESTINATION_KEY}, else duckdb)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="apptsync",
        description="Sync Pexip Engage and Valomnia appointments into DuckDB or Postgres.",
        epilog=help_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _add_global_options(parser, None)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_CommandParser)

    sync = sub.add_parser("sync", help="sync one or every source, then build the SQL models")
    sync.add_argument("--source", choices=list(SOURCES), help="only this source (default: all)")
    reconciling = ", ".join(n for n, e in SOURCES.items() if "reconcile" in e.run_options)
    sync.add_argument(
        "--reconcile",
        action="store_true",
        help=f"page every id and mark deletions ({reconciling}; the others always do)",
    )
    sync.add_argument("--no-models", action="store_true", help="skip building the SQL models")
    sync.add_argument(
        "--no-publish", action="store_true", help="do not publish the copy readers open"
    )
    sync.add_argument(
        "--full-scan",
        action="store_true",
        help="with webhooks on, page the whole collection now instead of only merging events",
    )
    _add_wait(sync)
    sync.set_defaults(func=cmd_sync)
    _add_webhooks_parser(sub)

    publish = sub.add_parser("publish", help="publish the copy readers open, if it changed")
    publish.add_argument("--force", action="store_true", help="publish even if nothing changed")
    publish.set_defaults(func=cmd_publish)

    models = sub.add_parser("models", help="build the SQL models in dependency order")
    _add_selectors(models)
    _add_wait(models)
    models.set_defaults(func=cmd_models)

    build = sub.add_parser("build", help="build the SQL models, then run their audits")
    _add_selectors(build)
    _add_wait(build)
    build.set_defaults(func=cmd_build)

    listing = sub.add_parser("ls", help="list the SQL models and audits with what they read")
    _add_selectors(listing)
    listing.add_argument(
        "--resource-type", choices=("model", "audit"), help="only models, or only audits"
    )
    listing.add_argument(
        "--output", choices=("text", "json"), default="text", help="json: one object per line"
    )
    listing.set_defaults(func=cmd_ls)

    check = sub.add_parser(
        "check", help="run the SQL audits; exit 1 when one of severity error fails"
    )
    _add_selectors(check, what="audits of these models (or these audits)")
    check.add_argument(
        "--max-age",
        metavar="DURATION",
        type=_duration,
        help="also fail when a source's last ok run is older (30m, 2h, 1h30m; "
        "default: checks.max_age)",
    )
    check.set_defaults(func=cmd_check)

    status = sub.add_parser("status", help="cursors, last loads and row counts per source")
    status.add_argument("--json", action="store_true", help="one JSON document, for monitors")
    status.set_defaults(func=cmd_status)

    export = sub.add_parser("export", help="write a model or table to CSV, Parquet, JSON or NDJSON")
    export.add_argument("relation", help="schema.name, or a name only one schema has")
    export.add_argument(
        "--output", "-o", required=True, type=_path_or_stdout, help="a file, or - for stdout"
    )
    export.add_argument("--format", choices=EXPORT_FORMATS, help="default: from the suffix")
    export.set_defaults(func=cmd_export)

    feeds = sub.add_parser("feeds", help="write every reporting model + manifest.json to DIR")
    feeds.add_argument("directory", type=Path, metavar="DIR", help="replaced atomically")
    feeds.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    feeds.add_argument("--database", type=Path, help="read this DuckDB file instead")
    feeds.set_defaults(func=cmd_feeds)

    report = sub.add_parser("report", help="write a self-contained HTML page of charts")
    report.add_argument("--output", "-o", type=Path, default=Path("report.html"))
    report.add_argument("--database", type=Path, help="read this DuckDB file instead")
    report.set_defaults(func=cmd_report)

    demo = sub.add_parser(
        "demo",
        help="simulator → both syncs → models → summary, in .apptsync/demo/ (never your real "
        "warehouse or sync state)",
    )
    demo.add_argument("--appointments", type=_positive, default=5000, help="per source")
    demo.add_argument("--seed", type=int, default=42)
    demo.set_defaults(func=cmd_demo)

    reset = sub.add_parser(
        "reset", help="forget a source's cursor: the next sync reads everything again"
    )
    reset.add_argument("source", choices=list(SOURCES))
    reset.add_argument("--yes", action="store_true", help="do not ask (scripts, cron)")
    reset.set_defaults(func=cmd_reset)

    simulate = sub.add_parser("simulate", help="serve the bundled API simulator")
    simulate.add_argument("--port", type=int, default=8765)
    simulate.add_argument("--appointments", type=_positive, default=5000, help="per source")
    simulate.add_argument("--seed", type=int, default=42)
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--webhook-url", help="deliver every Pexip change here as a webhook")
    simulate.add_argument("--webhook-secret", help="sign deliveries (HMAC-SHA256, X-Signature)")
    simulate.set_defaults(func=cmd_simulate)
    _document(sub)
    return parser


def _add_webhooks_parser(sub: Any) -> None:
    receiving = [n for n, e in SOURCES.items() if e.receives_webhooks]
    webhooks = sub.add_parser("webhooks", help="receive the APIs' webhook deliveries")
    actions = webhooks.add_subparsers(dest="action", required=True)
    serve = actions.add_parser("serve", help="verify deliveries and spool them for the next sync")
    serve.add_argument("--source", choices=receiving, default=receiving[0])
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    serve.add_argument("--threads", type=int, default=8)
    serve.set_defaults(func=cmd_webhooks_serve)


def cmd_webhooks_serve(args: argparse.Namespace) -> int:
    from pipelines.webhooks.receiver import serve
    from pipelines.webhooks.settings import configured_webhook_settings

    settings = configured_webhook_settings(SOURCES[args.source].config_section)
    serve(settings, args.host, args.port, threads=args.threads)
    return 0


EXAMPLES = {
    "sync": "apptsync sync --source valomnia -q",
    "publish": "apptsync publish && duckdb -readonly apptsync.published.duckdb",
    "models": "apptsync models --select +rpt_lead_time 'staging.*'",
    "build": "apptsync build --select fct_appointments+",
    "ls": "apptsync ls --select +reporting.rpt_lead_time --output json",
    "check": "apptsync check",
    "status": "apptsync status",
    "export": "apptsync export fct_appointments -o appointments.parquet",
    "feeds": "apptsync feeds /srv/dashboards/apptsync --format csv",
    "report": "apptsync report -o report.html",
    "demo": "apptsync demo --appointments 2000",
    "simulate": "apptsync simulate --port 8765 --appointments 100000",
    "reset": "apptsync reset pexip_engage --yes && apptsync sync --source pexip_engage",
    "webhooks": "apptsync webhooks serve --host 127.0.0.1 --port 8787",
}


def _document(sub: Any) -> None:
    """Each subcommand's --help opens with its one-line help and ends with an example."""
    helps = {action.dest: action.help for action in sub._choices_actions}
    for name, command in sub.choices.items():
        command.description = command.description or helps.get(name)
        if name in EXAMPLES and not command.epilog:
            command.epilog = f"example: {EXAMPLES[name]}"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("apptsync")
    except PackageNotFoundError:
        return "unknown"


def _duration(text: str) -> timedelta:
    from pipelines.ops.freshness import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_selectors(
    command: argparse.ArgumentParser, what: str = "only these models (default: all)"
) -> None:
    """dbt's node selectors: `name`, `schema.name`, `schema.*`, `+name` (and what it reads),
    `name+` (and what reads it); several, space-separated or repeated, are a union."""
    command.add_argument(
        "--select",
        "-s",
        nargs="+",
        action="extend",
        metavar="SELECTOR",
        help=f"{what}: name, schema.name, schema.*, +name (with upstream), name+ (with downstream)",
    )
    command.add_argument(
        "--exclude", nargs="+", action="extend", metavar="SELECTOR", help="leave these out"
    )


def _add_wait(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another apptsync run to finish (default: exit 75 at once)",
    )


def cmd_sync(args: argparse.Namespace) -> int:
    """One connection to the warehouse for the whole run (see pipelines.connection): an
    analyst connecting meanwhile cannot break it half-way; analysts read the published copy."""
    sources = [args.source] if args.source else list(SOURCES)
    results: list[SyncResult] = []
    # before dlt's working folder or the warehouse is touched
    with run_lock("sync", wait=args.wait), configured_destination().hold():
        try:
            sync_sources(sources, reconcile=args.reconcile, full_scan=args.full_scan, into=results)
        except KeyboardInterrupt:
            print(interrupted(sources, results), file=sys.stderr)
            return ExitCode.INTERRUPTED
        if not args.no_models:
            _build_models()
            if not args.no_publish:
                _publish()
    return sync_exit_code(results)


def _publish(force: bool = False) -> None:
    from pipelines.publish import publish

    destination = configured_destination()
    if not destination.publishes:
        say(f"publish: nothing to do: readers query the {destination.name} warehouse directly")
        return
    say(str(publish(force=force)))


def cmd_publish(args: argparse.Namespace) -> int:
    require_warehouse()
    with run_lock("publish"):
        _publish(force=args.force)
    return 0


def sync_sources(
    sources: Sequence[str],
    *,
    reconcile: bool = False,
    full_scan: bool = False,
    into: list[SyncResult] | None = None,
) -> list[SyncResult]:
    """Each source in its own pipeline: one failing never stops the next. Each result is
    reported as it comes and kept in `into`, so an interrupted run can say what it kept."""
    from pipelines.ops.progress import show_progress

    results = [] if into is None else into
    for source in sources:
        metrics = RunMetrics(source)
        with show_progress(metrics):
            result = run_source(source, reconcile=reconcile, full_scan=full_scan, metrics=metrics)
        results.append(result)
        if result.ok:
            say(format_result(result))
        else:
            print(format_result(result))
    return results


def interrupted(sources: Sequence[str], results: Sequence[SyncResult]) -> str:
    """What Ctrl-C kept: finished sources are loaded; the one interrupted kept its cursor
    (dlt moves it only with a completed load); the rest and the models did not run."""
    done = [r.source for r in results]
    stopped = sources[len(done)] if len(done) < len(sources) else None
    parts = [f"{', '.join(done)} landed" if done else "no source finished"]
    if stopped:
        parts.append(
            f"{stopped} stopped with its cursor unmoved (a load dlt had begun is finished by "
            "the next sync)"
        )
    rest = list(sources[len(done) + 1 :])
    if rest:
        parts.append(f"{', '.join(rest)} not run")
    parts.append("models not rebuilt")
    return "interrupted: " + "; ".join(parts)


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
        extra.append(
            f"{result.stale_child_rows_removed} child rows of re-loaded appointments replaced"
        )
    tail = f" ({'; '.join(extra)})" if extra else ""
    return f"{result.source}: ok in {result.seconds:.1f}s, wrote {written or 'nothing new'}{tail}"


def _build_models(
    select: Sequence[str] | None = None, exclude: Sequence[str] | None = None
) -> list[str]:
    from pipelines.models import build_models, open_sql_client

    with open_sql_client() as client:
        built = build_models(client, select=select, exclude=exclude)
    say(f"models: built {len(built)} view{'' if len(built) == 1 else 's'}")
    return built


def _selection(args: argparse.Namespace) -> Any:
    """What `--select`/`--exclude` pick among the models and audits: checked before the
    warehouse is opened, so a typo costs no lock and no wait."""
    from pipelines.models import discover, discover_audits, select

    return select(discover(), discover_audits(), args.select, args.exclude)


def _require_warehouse_or_its_first_sync() -> None:
    """A missing warehouse is an error (nothing is created), unless a run holds the lock: a
    first sync creates a server's schemas only as it loads, and the command then waits for
    the lock, or exits 75, like any other."""
    try:
        require_warehouse()
    except WarehouseMissing:
        if lock_holder() is None:
            raise


def cmd_models(args: argparse.Namespace) -> int:
    _require_warehouse_or_its_first_sync()
    if args.select or args.exclude:
        _selection(args)
    with run_lock("models", wait=args.wait):
        require_warehouse()
        with configured_destination().hold():
            built = _build_models(args.select, args.exclude)
    for name in built:
        say(f"  {name}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    """The selected models, then the audits of what was selected (dbt's `build`). Exit 1 when
    an audit of severity error fails; warnings are printed and fail nothing."""
    from pipelines.models import open_sql_client, run_audits

    require_warehouse()
    selection = _selection(args)
    with run_lock("build", wait=args.wait), configured_destination().hold():
        if selection.models:
            names = selection.model_names if args.select else None
            _build_models(names, args.exclude)
        with open_sql_client() as client:
            results = run_audits(client, audits=selection.audits)
    return _report_audits(results)


def cmd_ls(args: argparse.Namespace) -> int:
    from pipelines.models import SQL_DIR
    from pipelines.models.listing import describe, render

    records = describe(_selection(args), SQL_DIR)
    if args.resource_type:
        records = [r for r in records if r["resource_type"] == args.resource_type]
    if records:
        print(render(records, args.output))
    return 0


def _report_audits(results: Sequence[Any]) -> int:
    """Print the audit report (with -q only when an audit of severity error failed); the exit
    code: 1 when one did, 0 when all passed or only audits of severity warn found rows."""
    from pipelines.models import any_failed, format_audit_report

    failed = any_failed(results)
    if failed or not _QUIET:
        print(format_audit_report(results))
    return ExitCode.FAILED if failed else ExitCode.OK


def cmd_check(args: argparse.Namespace) -> int:
    from pipelines.models import open_sql_client, run_audits
    from pipelines.ops.freshness import configured_max_age, freshness_report

    require_warehouse()
    max_age = args.max_age or configured_max_age()  # a bad setting fails before the audits
    audits = _selection(args).audits
    with configured_destination().hold(read_only=True), open_sql_client() as client:
        results = run_audits(client, audits=audits)
    code = _report_audits(results)
    stale = freshness_report(list(SOURCES), max_age)
    for line in stale:
        print(line)
    return ExitCode.FAILED if code or stale else ExitCode.OK


def cmd_status(args: argparse.Namespace) -> int:
    from pipelines.ops.status import paths_status, source_status, status_document

    if args.json:
        import orjson

        with configured_destination().hold(read_only=True):
            document = status_document(list(SOURCES))
        print(orjson.dumps(document, option=orjson.OPT_INDENT_2, default=str).decode())
        return 0
    with configured_destination().hold(read_only=True):  # its own opens share this one
        print(paths_status())
        holder = lock_holder()
        if holder:
            print(f"running: {describe_holder(holder).removeprefix('another ')}")
        for source in SOURCES:
            print(source_status(source))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pipelines.ops.export import STDOUT, export_relation

    output = str(args.output)
    with configured_destination().hold(read_only=True):  # waits for a writer, like status
        require_warehouse()
        relation, count = export_relation(None, args.relation, output, args.format)
    if output != STDOUT:
        say(f"wrote {count} rows of {relation} to {output}")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    """Asks first on a terminal; a script must say `--yes` (nothing is read from stdin)."""
    from pipelines.ops.reset import reset_cursor

    if not args.yes:
        if not sys.stdin.isatty():
            print("error: not a terminal: add --yes to reset without asking", file=sys.stderr)
            return 2
        answer = input(f"forget the cursor of {args.source}? the next sync reads it all [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing changed")
            return 0
    reset_cursor(args.source)
    say(f"{args.source}: cursor forgotten; the next sync reads every appointment and merges it")
    return 0


def cmd_feeds(args: argparse.Namespace) -> int:
    from pipelines.publish.feeds import write_feeds

    feed = write_feeds(args.directory, args.format, args.database)
    models = len(feed.manifest["models"])
    say(f"feeds: {models} models, {feed.total_rows} rows as {args.format} in {feed.path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pipelines.publish.report import write_report

    say(f"report: {write_report(args.output, args.database)}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from pipelines.simulator import serve

    serve(
        port=args.port,
        appointments=args.appointments,
        seed=args.seed,
        host=args.host,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole product on one machine: the simulator stands in for both APIs."""
    use_demo_folder()  # the lock is beside the demo's own warehouse
    with run_lock("demo"):
        return _demo(args)


def _demo(args: argparse.Namespace) -> int:
    from pipelines.connection import hold_warehouse
    from pipelines.models import open_sql_client, run_audits
    from pipelines.simulator import Simulator
    from pipelines.warehouse import publish_path

    started = time.monotonic()
    folder = use_demo_folder()
    print(f"demo: its own warehouse and dlt folder in {folder} (your real ones are untouched)")
    with hold_warehouse():
        with Simulator(appointments=args.appointments, seed=args.seed) as sim:
            _point_sources_at(sim)
            print(f"simulator: {args.appointments} appointments per source at {sim.url}")
            results = sync_sources(list(SOURCES))
        for result in results:
            print(format_result(result))
        built = _build_models()
        with open_sql_client() as client:
            audits = run_audits(client)
        _publish()
    failing = [a.name for a in audits if a.failed]
    print(_summary(database_path()))
    print(
        f"audits: {len(audits) - len(failing)} of {len(audits)} pass"
        + (f" (failing: {', '.join(failing)})" if failing else "")
    )
    print(_demo_report())
    print(
        f"done in {time.monotonic() - started:.1f}s: {len(built)} views in {database_path()}; "
        f"try `DESTINATION__DUCKDB__CREDENTIALS={database_path()} apptsync export "
        "rpt_daily_appointments -o daily.csv`"
    )
    print(f"published for analysts and BI tools: {publish_path()} (duckdb -readonly)")
    return 0 if all(r.ok for r in results) and not failing else 1


DEMO_FOLDER = Path(".apptsync") / "demo"


def use_demo_folder() -> Path:
    """Point the warehouse, the published copy and dlt's working folder at the demo's own
    folder, so a demo never touches a real warehouse or real sync state."""
    folder = DEMO_FOLDER.absolute()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["DLT_DATA_DIR"] = str(folder / "dlt")
    os.environ[env_name(DESTINATION_KEY)] = DuckDbDestination.name  # the demo: one file here
    os.environ[env_name("destination.duckdb.credentials")] = str(folder / "apptsync.duckdb")
    os.environ[env_name("apptsync.publish_path")] = str(folder / "apptsync.published.duckdb")
    return folder


def _demo_report() -> str:
    """The demo's report page, beside the warehouse; skipped without the 'report' extra."""
    from pipelines.publish.report import ReportError, write_report

    try:
        return f"report: {write_report(Path(database_path()).with_name('report.html'))}"
    except ReportError as ex:
        return f"report: skipped ({ex})"


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
