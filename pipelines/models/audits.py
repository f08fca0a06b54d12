"""Run the audits in `sql/audits/` and render what they found for a terminal.

An audit is a query returning the rows that break its rule (zero rows is a pass), as SQLMesh
audits and dbt's singular tests are; a failing audit shows a few of those rows, so the reader
sees the problem, not just a count. An audit of severity `warn` (its `-- severity: warn`
header line) that finds rows is reported as a warning and fails nothing, as dbt's
`severity: warn`: a rule about the vendor's data, say, that no run of apptsync can fix.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlt.destinations.sql_client import SqlClientBase
from sqlglot import exp

from pipelines.models.discovery import (
    SEVERITIES,
    SQL_DIR,
    Audit,
    ModelError,
    discover_audits,
    model_schemas,
    parse,
    relative,
    summary,
)
from pipelines.models.resolve import dialect, existing_relations, generate, resolve
from pipelines.models.warehouse import database_message


@dataclass(frozen=True)
class AuditResult:
    """What one audit found: how many rows break its rule, and the first few of them."""

    name: str
    path: Path
    failing_count: int
    columns: list[str] = field(default_factory=list)
    sample_rows: list[tuple[Any, ...]] = field(default_factory=list)
    description: str = ""
    severity: str = SEVERITIES[0]

    @property
    def passed(self) -> bool:
        return self.failing_count == 0

    @property
    def failed(self) -> bool:
        """It found rows and its severity is `error`: the command fails."""
        return not self.passed and self.severity == "error"

    @property
    def warned(self) -> bool:
        """It found rows and its severity is `warn`: reported, and nothing fails."""
        return not self.passed and self.severity == "warn"


def any_failed(results: Iterable[AuditResult]) -> bool:
    """Whether an audit of severity `error` found rows (warnings do not count)."""
    return any(result.failed for result in results)


def run_audits(
    client: SqlClientBase[Any],
    sql_dir: Path = SQL_DIR,
    sample_size: int = 5,
    declared: Collection[str] | None = None,
    audits: Sequence[Audit] | None = None,
) -> list[AuditResult]:
    """Run every audit (or the given ones, e.g. a `select(...)`'s) and return, per audit, how
    many rows break its rule and a sample.

    An audit that cannot run (for example because the models were never built) raises
    `ModelError` naming the file and the database's message; so does an audit reading a
    relation that is neither a model nor a declared raw table (`declared`, as in `discover`).
    """
    sql_dir = Path(sql_dir)
    if audits is None:
        audits = discover_audits(sql_dir, declared)
    existing = existing_relations(client, {source for audit in audits for source in audit.sources})
    built = existing_relations(client, {model for audit in audits for model in audit.depends_on})
    for audit in audits:
        unbuilt = [model for model in audit.depends_on if model not in built]
        if unbuilt:
            raise ModelError(
                f"{relative(audit.path, sql_dir)}: reads {', '.join(unbuilt)}, which is not"
                " built in this warehouse (run `apptsync models` first)",
                [audit.path],
            )
    return [_run_audit(client, audit, sql_dir, existing, sample_size) for audit in audits]


def _run_audit(
    client: SqlClientBase[Any],
    audit: Audit,
    sql_dir: Path,
    existing: set[str],
    sample_size: int,
) -> AuditResult:
    """Count the rows that break one audit's rule and fetch the first `sample_size` of them."""
    schemas = model_schemas(sql_dir)
    query = resolve(
        parse(audit.path, audit.sql, sql_dir, schemas, None).expression,
        client,
        schemas,
        existing,
    )
    rows = query.subquery("audit_rows")
    count = exp.select(exp.Count(this=exp.Star())).from_(rows)
    sample = exp.select(exp.Star()).from_(rows.copy()).limit(sample_size)
    target = dialect(client)
    count_sql = generate(count, target, audit.path, sql_dir)
    sample_sql = generate(sample, target, audit.path, sql_dir)
    columns: list[str] = []
    sample_rows: list[tuple[Any, ...]] = []
    try:
        counted = client.execute_sql(count_sql)
        if not counted:
            raise ValueError("the count returned no row")
        failing_count = int(counted[0][0])
        if failing_count:
            with client.execute_query(sample_sql) as cursor:
                columns = [column[0] for column in cursor.description]
                sample_rows = [tuple(row) for row in cursor.fetchall()]
    except Exception as ex:
        raise ModelError(
            f"{relative(audit.path, sql_dir)}: {database_message(ex)}", [audit.path]
        ) from ex
    return AuditResult(
        name=audit.name,
        path=audit.path,
        failing_count=failing_count,
        columns=columns,
        sample_rows=sample_rows,
        description=audit.description,
        severity=audit.severity,
    )


def format_audit_report(results: Sequence[AuditResult]) -> str:
    """Render audit results for a terminal: one line per audit, and for each failing (or, with
    severity warn, warning) audit its rule and a small table of example rows."""
    lines: list[str] = []
    for result in results:
        if result.passed:
            lines.append(f"PASS  {result.name}")
            continue
        noun = "row breaks" if result.failing_count == 1 else "rows break"
        label, tail = ("WARN", " (severity warn)") if result.warned else ("FAIL", "")
        lines.append(f"{label}  {result.name}: {result.failing_count} {noun} the rule{tail}")
        if result.description:
            lines.append(f"      {summary(result.description)}")
        lines.extend("      " + line for line in _table(result.columns, result.sample_rows))
        if result.failing_count > len(result.sample_rows):
            lines.append(f"      ... and {result.failing_count - len(result.sample_rows)} more")
    lines.append(_verdict(results))
    return "\n".join(lines)


def _verdict(results: Sequence[AuditResult]) -> str:
    failed = sum(result.failed for result in results)
    warned = sum(result.warned for result in results)
    warnings = f"{warned} warning{'s' if warned != 1 else ''}"
    if failed:
        return f"{failed} of {len(results)} audits failed" + (f", {warnings}." if warned else ".")
    if warned:
        return f"{len(results) - warned} of {len(results)} audits passed, {warnings}."
    return "1 audit passed." if len(results) == 1 else f"All {len(results)} audits passed."


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A plain-text table of a few rows."""
    if not columns:
        return []
    cells = [[("null" if value is None else str(value)) for value in row] for row in rows]
    widths = [
        max([len(column)] + [len(row[i]) for row in cells]) for i, column in enumerate(columns)
    ]
    header = " | ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True))
    rule = "-+-".join("-" * width for width in widths)
    body = [
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in cells
    ]
    return [header, rule, *body]
