"""Model and audit files -> `Model`/`Audit`: parse each with sqlglot, sort its references, order
the models so each comes after what it reads.

Why here, apart from the build: discovery needs no warehouse, so a broken file, a reference to
a missing model or a cycle fails before anything connects (and the tests can check it alone).
"""

from __future__ import annotations

import difflib
import graphlib
import heapq
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from pipelines.models.sources import declared_tables

SQL_DIR: Path = Path(__file__).resolve().parents[2] / "sql"
"""The repository's `sql/` folder: one sub-folder per schema, plus `audits/`."""

LAYERS = ("staging", "intermediate", "reporting")
"""The model schemas in the order data flows through them (other folders build last)."""

AUDITS_DIR = "audits"
"""Sub-folder of the SQL folder that holds audits (queries, not views)."""

SOURCE_DIALECT = "duckdb"
"""The dialect the models are written in."""

SEVERITIES = ("error", "warn")
"""An audit's `-- severity:` header: `error` (the default) fails `check` and `build`, `warn`
only reports; the first is the default."""

_SEVERITY_LINE = re.compile(r"^--\s*severity\s*:\s*(?P<value>\S*)\s*$", re.IGNORECASE)


class ModelError(Exception):
    """A model or audit cannot be discovered, ordered or built. The message names the file(s)."""

    def __init__(self, message: str, paths: Sequence[Path] = ()) -> None:
        super().__init__(message)
        self.paths = tuple(paths)


@dataclass(frozen=True)
class Model:
    """One model file: `sql/<schema>/<name>.sql`, built as the view `<schema>.<name>`."""

    schema: str
    name: str
    path: Path
    sql: str
    depends_on: tuple[str, ...] = ()
    """Qualified names (`schema.name`) of the models this one reads."""
    sources: tuple[str, ...] = ()
    """Qualified names of the tables outside the model schemas (raw tables) it reads."""
    description: str = ""
    """The comment header of the file, without the comment markers."""
    column_docs: tuple[tuple[str, str], ...] = ()
    """(column, what it means) of every documented column (`pipelines.models.docs`)."""

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Audit:
    """One audit file `sql/audits/assert_<rule>.sql`: a query returning the rows that break it."""

    name: str
    path: Path
    sql: str
    depends_on: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    description: str = ""
    severity: str = SEVERITIES[0]
    """`error` or `warn`, from the file's `-- severity:` header line."""


@dataclass(frozen=True)
class Parsed:
    """A parsed SQL file with its references split by kind."""

    expression: exp.Query
    depends_on: tuple[str, ...]
    sources: tuple[str, ...]


def discover(
    sql_dir: Path = SQL_DIR,
    declared: Collection[str] | None = None,
    docs_dir: Path | None = None,
) -> list[Model]:
    """Return every model under `sql_dir`, in build (topological) order, each with the column
    documentation of `docs_dir` (by default `docs/` beside `sql_dir`; see `docs.py`).

    Raises `ModelError` naming the files for a file that is not one `select`, a reference to a
    model that does not exist, an unqualified table reference, a read of a relation that is not
    a declared raw table (`declared`, by default `declared_tables()`), or a dependency cycle.
    """
    from pipelines.models.docs import column_docs

    sql_dir = Path(sql_dir)
    paths = model_paths(sql_dir)
    schemas = model_schemas(sql_dir)
    known = {qualified(path.parent.name, path.stem): path for path in paths}
    raw_tables = _declared(declared)
    documented = column_docs(sql_dir.parent / "docs" if docs_dir is None else Path(docs_dir))

    models: dict[str, Model] = {}
    for path in paths:
        text = path.read_text(encoding="utf-8")
        parsed = parse(path, text, sql_dir, schemas, known)
        _check_declared(path, parsed.sources, raw_tables, sql_dir)
        model = Model(
            schema=path.parent.name.lower(),
            name=path.stem.lower(),
            path=path,
            sql=text,
            depends_on=parsed.depends_on,
            sources=parsed.sources,
            description=description(text),
        )
        docs = documented.get(model.qualified_name)
        if docs:
            model = replace(model, column_docs=tuple(docs.items()))
        models[model.qualified_name] = model

    return [models[name] for name in _topological_order(models, sql_dir)]


def discover_audits(
    sql_dir: Path = SQL_DIR, declared: Collection[str] | None = None
) -> list[Audit]:
    """Return every audit in `sql_dir/audits/`, sorted by name; the same errors as `discover`."""
    sql_dir = Path(sql_dir)
    audit_dir = sql_dir / AUDITS_DIR
    if not audit_dir.is_dir():
        return []
    schemas = model_schemas(sql_dir)
    known = {qualified(path.parent.name, path.stem): path for path in model_paths(sql_dir)}
    raw_tables = _declared(declared)
    audits = []
    for path in sorted(audit_dir.glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        parsed = parse(path, text, sql_dir, schemas, known)
        _check_declared(path, parsed.sources, raw_tables, sql_dir)
        audits.append(
            Audit(
                name=path.stem,
                path=path,
                sql=text,
                depends_on=parsed.depends_on,
                sources=parsed.sources,
                description=description(text, skip=_SEVERITY_LINE),
                severity=severity(path, text, sql_dir),
            )
        )
    return audits


def model_paths(sql_dir: Path) -> list[Path]:
    return sorted(
        path for path in sql_dir.glob("*/*.sql") if path.parent.name.lower() != AUDITS_DIR
    )


def model_schemas(sql_dir: Path) -> frozenset[str]:
    """The schemas that hold models: the three layers, whether or not their folder exists
    (a reference into them is always a reference to a model), and any other sub-folder of
    `sql_dir` except the audits."""
    folders = (
        {path.name.lower() for path in sql_dir.iterdir() if path.is_dir()}
        if sql_dir.is_dir()
        else set()
    )
    folders = {name for name in folders if name != AUDITS_DIR and not name.startswith(".")}
    return frozenset(folders | set(LAYERS))


def qualified(schema: str, name: str) -> str:
    return f"{schema}.{name}".lower()


def parse(
    path: Path,
    text: str,
    sql_dir: Path,
    schemas: frozenset[str],
    known: dict[str, Path] | None,
) -> Parsed:
    """Parse one file and sort its table references into models and sources.

    With `known` (the qualified names of all models), a reference to a missing model is an
    error naming the file.
    """
    where = relative(path, sql_dir)
    try:
        statements = [s for s in sqlglot.parse(text, read=SOURCE_DIALECT) if s is not None]
    except SqlglotError as ex:
        raise ModelError(f"{where}: cannot parse the SQL: {ex}", [path]) from ex
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise ModelError(f"{where}: a model must be exactly one select statement", [path])
    expression = statements[0]

    cte_names = {cte.alias_or_name.lower() for cte in expression.find_all(exp.CTE)}
    depends_on: list[str] = []
    sources: list[str] = []
    for table in expression.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function, e.g. range(3)
        if not table.db:
            if table.name.lower() in cte_names:
                continue
            raise ModelError(
                f"{where}: table reference {table.name!r} needs its schema"
                " (e.g. staging.stg_valomnia__appointments)",
                [path],
            )
        if table.catalog:
            continue  # a table in another database: left as written
        name = qualified(table.db, table.name)
        if table.db.lower() in schemas:
            if known is not None and name not in known:
                raise ModelError(
                    f"{where}: references {name}, but there is no model"
                    f" {table.db.lower()}/{table.name.lower()}.sql",
                    [path],
                )
            if name not in depends_on:
                depends_on.append(name)
        elif name not in sources:
            sources.append(name)
    return Parsed(expression, tuple(sorted(depends_on)), tuple(sorted(sources)))


def severity(path: Path, text: str, sql_dir: Path) -> str:
    """An audit's severity: its header's `-- severity: warn|error` line, else `error`."""
    for line in _header(text):
        found = _SEVERITY_LINE.match(line)
        if found:
            value = found["value"].lower()
            if value not in SEVERITIES:
                raise ModelError(
                    f"{relative(path, sql_dir)}: severity {found['value']!r} is not one of"
                    f" {', '.join(SEVERITIES)}",
                    [path],
                )
            return value
    return SEVERITIES[0]


def _header(text: str) -> list[str]:
    """The leading comment lines of a file (blank lines between them allowed), stripped."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            lines.append(stripped)
        elif stripped:
            break
    return lines


def description(text: str, skip: re.Pattern[str] | None = None) -> str:
    """The comment header of a file: its leading `--` lines, without the markers (and without
    the lines `skip` matches, such as an audit's severity)."""
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if skip is not None and skip.match(stripped):
            continue
        if stripped.startswith("--"):
            content = stripped[2:]
            lines.append(content[1:] if content.startswith(" ") else content)
        elif stripped:
            break
        elif lines:
            lines.append("")
    return "\n".join(lines).strip()


def summary(description: str) -> str:
    """The first paragraph of a description, on one line."""
    paragraph = description.split("\n\n", 1)[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def relative(path: Path, sql_dir: Path) -> str:
    """`sql/<schema>/<name>.sql` for messages; the absolute path when it is elsewhere."""
    try:
        return path.resolve().relative_to(Path(sql_dir).resolve().parent).as_posix()
    except ValueError:
        return str(path)


def _declared(declared: Collection[str] | None) -> frozenset[str]:
    if declared is None:
        return declared_tables()
    return frozenset(name.lower() for name in declared)


def _check_declared(
    path: Path, sources: Iterable[str], declared: frozenset[str], sql_dir: Path
) -> None:
    """Raise `ModelError` when the file at `path` reads a relation that is not declared; the
    one-line message names the file, the relation and the declared tables close to it."""
    for name in sources:
        if name in declared:
            continue
        close = _close_matches(name, declared)
        hint = (
            f"; did you mean {' or '.join(close)}?"
            if close
            else " (a source's tables come from its SourceEntry, apptsync's own from"
            " DECLARED_TABLES in pipelines/models/sources.py)"
        )
        raise ModelError(
            f"{relative(path, sql_dir)}: reads {name}, which is not a declared raw table{hint}",
            [path],
        )


def _close_matches(name: str, declared: frozenset[str]) -> list[str]:
    """The declared names most like `name`: those nearly as close as the closest one, so a
    typo gets its table, not every table sharing the prefix."""
    scored = sorted(
        ((difflib.SequenceMatcher(None, name, other).ratio(), other) for other in declared),
        key=lambda item: (-item[0], item[1]),
    )
    best = scored[0][0] if scored else 0.0
    return [other for ratio, other in scored[:3] if ratio >= max(0.8, best - 0.05)]


def _topological_order(models: dict[str, Model], sql_dir: Path) -> list[str]:
    """Order the models so that each comes after what it reads; among the models that are
    ready, staging comes first, then intermediate, then reporting, then by name."""
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter(
        {name: model.depends_on for name, model in models.items()}
    )
    try:
        sorter.prepare()
    except graphlib.CycleError as ex:
        cycle: list[str] = ex.args[1]
        files = [relative(models[name].path, sql_dir) for name in cycle]
        raise ModelError(
            "dependency cycle: " + " -> ".join(files), [models[name].path for name in cycle]
        ) from ex
    order: list[str] = []
    ready: list[tuple[int, str]] = []
    while sorter.is_active():
        for name in sorter.get_ready():
            heapq.heappush(ready, (_layer(models[name].schema), name))
        _, name = heapq.heappop(ready)
        order.append(name)
        sorter.done(name)
    return order


def _layer(schema: str) -> int:
    return LAYERS.index(schema) if schema in LAYERS else len(LAYERS)
