"""Build the SQL models in `sql/` as views, and run the audits in `sql/audits/`.

Every `sql/<schema>/<name>.sql` holds one `select` written in DuckDB's dialect and becomes the
view `<schema>.<name>`. The runner reads each model's table references with sqlglot, so the
build order follows from the SQL itself: no numbered file names, no hand-kept lists.

The runner talks to the warehouse only through a dlt SQL client and sends each model through
sqlglot transpilation into the client's dialect, so another dlt destination can be plugged in
later without touching the models. (On DuckDB the transpilation is the identity.)

Raw tables are written by the syncs. A warehouse that has not synced a source yet has none of
its tables; a model reading such a table reads an empty relation instead (every column the
model uses, as a null `varchar`), so all views build on an empty warehouse. Staging casts every
column explicitly, so the views stay typed. The CLI rebuilds the views after each sync, which
replaces those placeholders with the real tables.
"""

from __future__ import annotations

import graphlib
import heapq
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import sqlglot
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.destinations.sql_client import SqlClientBase
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

SQL_DIR: Path = Path(__file__).resolve().parents[2] / "sql"
"""The repository's `sql/` folder: one sub-folder per schema, plus `audits/`."""

LAYERS = ("staging", "intermediate", "reporting")
"""The model schemas in the order data flows through them (other folders build last)."""

AUDITS_DIR = "audits"
"""Sub-folder of the SQL folder that holds audits (queries, not views)."""

SOURCE_DIALECT = "duckdb"
"""The dialect the models are written in."""

"""The warehouse file used when `destination.duckdb.credentials` is not configured."""

MODELS_DATASET = "reporting"
"""Default dataset of the SQL client that builds the models (every reference is qualified)."""

_VIEW_COMMENT_DIALECTS = frozenset({"duckdb", "postgres", "redshift", "snowflake"})
"""Dialects that take `comment on view`; elsewhere the description stays in the file."""


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


@dataclass(frozen=True)
class AuditResult:
    """What one audit found: how many rows break its rule, and the first few of them."""

    name: str
    path: Path
    failing_count: int
    columns: list[str] = field(default_factory=list)
    sample_rows: list[tuple[Any, ...]] = field(default_factory=list)
    description: str = ""

    @property
    def passed(self) -> bool:
        return self.failing_count == 0


@dataclass(frozen=True)
class _Parsed:
    """A parsed SQL file with its references split by kind."""

    expression: exp.Query
    depends_on: tuple[str, ...]
    sources: tuple[str, ...]


# discovery


def discover(sql_dir: Path = SQL_DIR) -> list[Model]:
    """Return every model under `sql_dir`, in build (topological) order.

    Raises `ModelError` naming the files for a file that is not one `select`, a reference to a
    model that does not exist, an unqualified table reference, or a dependency cycle.
    """
    sql_dir = Path(sql_dir)
    paths = _model_paths(sql_dir)
    schemas = _model_schemas(sql_dir)
    known = {_qualified(path.parent.name, path.stem): path for path in paths}

    models: dict[str, Model] = {}
    for path in paths:
        text = path.read_text(encoding="utf-8")
        parsed = _parse(path, text, sql_dir, schemas, known)
        model = Model(
            schema=path.parent.name.lower(),
            name=path.stem.lower(),
            path=path,
            sql=text,
            depends_on=parsed.depends_on,
            sources=parsed.sources,
            description=_description(text),
        )
        models[model.qualified_name] = model

    return [models[name] for name in _topological_order(models, sql_dir)]


def discover_audits(sql_dir: Path = SQL_DIR) -> list[Audit]:
    """Return every audit in `sql_dir/audits/`, sorted by name."""
    sql_dir = Path(sql_dir)
    audit_dir = sql_dir / AUDITS_DIR
    if not audit_dir.is_dir():
        return []
    schemas = _model_schemas(sql_dir)
    known = {_qualified(path.parent.name, path.stem): path for path in _model_paths(sql_dir)}
    audits = []
    for path in sorted(audit_dir.glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        parsed = _parse(path, text, sql_dir, schemas, known)
        audits.append(
            Audit(
                name=path.stem,
                path=path,
                sql=text,
                depends_on=parsed.depends_on,
                sources=parsed.sources,
                description=_description(text),
            )
        )
    return audits


def select_models(models: Sequence[Model], select: str) -> list[Model]:
    """Return the model named `select` (`name` or `schema.name`) and every model it depends on,
    in build order."""
    by_name = {model.qualified_name: model for model in models}
    wanted = select.strip().lower()
    matches = [model for model in models if wanted in (model.qualified_name, model.name)]
    if not matches:
        raise ModelError(f"no model named {select!r} (models: {', '.join(sorted(by_name))})")
    if len(matches) > 1:
        names = ", ".join(model.qualified_name for model in matches)
        raise ModelError(f"{select!r} names more than one model ({names}): use schema.name")

    needed: set[str] = set()
    stack = [matches[0].qualified_name]
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(by_name[name].depends_on)
    return [model for model in models if model.qualified_name in needed]


# building


def build_models(
    client: SqlClientBase[Any], select: str | None = None, sql_dir: Path = SQL_DIR
) -> list[str]:
    """Create or replace the view of every model (or of `select` and its upstream models) in
    one transaction, in dependency order, and return their qualified names.

    `client` is an open dlt SQL client (for example from `open_sql_client()` or
    `pipeline.sql_client()`). When a model fails, the transaction is rolled back, so the views
    that were there before stay as they were, and `ModelError` names the file and carries the
    database's message.
    """
    models = discover(sql_dir)
    if select:
        models = select_models(models, select)
    if not models:
        return []

    sql_dir = Path(sql_dir)
    model_schemas = _model_schemas(sql_dir)
    existing = _existing_sources(client, {source for model in models for source in model.sources})
    schemas = list(dict.fromkeys(model.schema for model in models))
    dialect = _dialect(client)

    statements: list[tuple[Model, str]] = []
    for model in models:
        query = _resolve(
            _parse(model.path, model.sql, sql_dir, model_schemas, None).expression,
            client,
            model_schemas,
            existing,
        )
        view = _view_table(client, model.schema, model.name)
        create = exp.Create(this=view, kind="VIEW", replace=True, expression=query)
        statements.append((model, _generate(create, dialect, model.path, sql_dir)))
        if model.description and dialect in _VIEW_COMMENT_DIALECTS:
            comment = exp.Comment(
                this=view.copy(),
                kind="VIEW",
                expression=exp.Literal.string(_summary(model.description)),
            )
            statements.append((model, _generate(comment, dialect, model.path, sql_dir)))

    # the database's error is raised through the transaction (which rolls back) and only then
    # wrapped: dlt's transaction context re-raises what it catches as a database error
    current: Model | None = None
    try:
        with client.begin_transaction():
            for schema in schemas:
                with client.with_alternative_dataset_name(schema):
                    if not client.has_dataset():
                        client.create_dataset()
            for model, statement in statements:
                current = model
                client.execute_sql(statement)
    except Exception as ex:
        where = _relative(current.path, sql_dir) if current else "creating the model schemas"
        raise ModelError(
            f"{where}: {_database_message(ex)}", [current.path] if current else []
        ) from ex
    return [model.qualified_name for model in models]


# audits


def run_audits(
    client: SqlClientBase[Any], sql_dir: Path = SQL_DIR, sample_size: int = 5
) -> list[AuditResult]:
    """Run every audit and return, per audit, how many rows break its rule and a sample.

    An audit that cannot run (for example because the models were never built) raises
    `ModelError` naming the file and the database's message.
    """
    sql_dir = Path(sql_dir)
    model_schemas = _model_schemas(sql_dir)
    audits = discover_audits(sql_dir)
    existing = _existing_sources(client, {source for audit in audits for source in audit.sources})
    built = _existing_sources(client, {model for audit in audits for model in audit.depends_on})
    dialect = _dialect(client)
    results = []
    for audit in audits:
        unbuilt = [model for model in audit.depends_on if model not in built]
        if unbuilt:
            raise ModelError(
                f"{_relative(audit.path, sql_dir)}: reads {', '.join(unbuilt)}, which is not"
                " built in this warehouse (run `apptsync models` first)",
                [audit.path],
            )
        query = _resolve(
            _parse(audit.path, audit.sql, sql_dir, model_schemas, None).expression,
            client,
            model_schemas,
            existing,
        )
        rows = query.subquery("audit_rows")
        count = exp.select(exp.Count(this=exp.Star())).from_(rows)
        sample = exp.select(exp.Star()).from_(rows.copy()).limit(sample_size)
        count_sql = _generate(count, dialect, audit.path, sql_dir)
        sample_sql = _generate(sample, dialect, audit.path, sql_dir)
        try:
            failing_count = int(client.execute_sql(count_sql)[0][0])
            columns: list[str] = []
            sample_rows: list[tuple[Any, ...]] = []
            if failing_count:
                with client.execute_query(sample_sql) as cursor:
                    columns = [column[0] for column in cursor.description]
                    sample_rows = [tuple(row) for row in cursor.fetchall()]
        except Exception as ex:
            raise ModelError(
                f"{_relative(audit.path, sql_dir)}: {_database_message(ex)}", [audit.path]
            ) from ex
        results.append(
            AuditResult(
                name=audit.name,
                path=audit.path,
                failing_count=failing_count,
                columns=columns,
                sample_rows=sample_rows,
                description=audit.description,
            )
        )
    return results


def format_audit_report(results: Sequence[AuditResult]) -> str:
    """Render audit results for a terminal: one line per audit, and for each failing audit its
    rule and a small table of example rows."""
    lines: list[str] = []
    for result in results:
        if result.passed:
            lines.append(f"PASS  {result.name}")
            continue
        noun = "row breaks" if result.failing_count == 1 else "rows break"
        lines.append(f"FAIL  {result.name}: {result.failing_count} {noun} the rule")
        if result.description:
            lines.append(f"      {_summary(result.description)}")
        lines.extend("      " + line for line in _table(result.columns, result.sample_rows))
        if result.failing_count > len(result.sample_rows):
            lines.append(f"      ... and {result.failing_count - len(result.sample_rows)} more")
    failed = sum(not result.passed for result in results)
    if failed:
        lines.append(f"{failed} of {len(results)} audits failed.")
    else:
        lines.append(f"All {len(results)} audits passed.")
    return "\n".join(lines)


# the warehouse


@contextmanager
def open_sql_client(
    credentials: Any = None,
    destination: Any = None,
    dataset_name: str = MODELS_DATASET,
) -> Iterator[SqlClientBase[Any]]:
    """Open a dlt SQL client on the warehouse, without a source or a pipeline run.

    By default the destination is DuckDB and its credentials come from dlt's configuration
    (`destination.duckdb.credentials` in `.dlt/*.toml`, or `DESTINATION__DUCKDB__CREDENTIALS`),
    falling back to `apptsync.duckdb` in the working directory; `credentials` overrides both.
    Pass `destination` (any dlt destination reference) to use another warehouse.

    The client comes from `dlt.dataset(...)` with an ad hoc schema: it resolves the
    destination's configuration like a pipeline does, but leaves no pipeline state behind.
    """
    if destination is None:
        if credentials is None:
            from pipelines.warehouse import warehouse_credentials

            credentials = warehouse_credentials()  # the held connection, inside a command
        destination = dlt.destinations.duckdb(credentials=credentials)
    dataset = dlt.dataset(destination, dataset_name, schema=dlt.Schema("apptsync_models"))
    with dataset.sql_client as client:
        yield client


# internals


def _model_paths(sql_dir: Path) -> list[Path]:
    return sorted(
        path for path in sql_dir.glob("*/*.sql") if path.parent.name.lower() != AUDITS_DIR
    )


def _model_schemas(sql_dir: Path) -> frozenset[str]:
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


def _qualified(schema: str, name: str) -> str:
    return f"{schema}.{name}".lower()


def _parse(
    path: Path,
    text: str,
    sql_dir: Path,
    model_schemas: frozenset[str],
    known: dict[str, Path] | None,
) -> _Parsed:
    """Parse one file and sort its table references into models and sources.

    With `known` (the qualified names of all models), a reference to a missing model is an
    error naming the file.
    """
    relative = _relative(path, sql_dir)
    try:
        statements = [s for s in sqlglot.parse(text, read=SOURCE_DIALECT) if s is not None]
    except SqlglotError as ex:
        raise ModelError(f"{relative}: cannot parse the SQL: {ex}", [path]) from ex
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise ModelError(f"{relative}: a model must be exactly one select statement", [path])
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
                f"{relative}: table reference {table.name!r} needs its schema"
                " (e.g. staging.stg_valomnia__appointments)",
                [path],
            )
        if table.catalog:
            continue  # a table in another database: left as written
        name = _qualified(table.db, table.name)
        if table.db.lower() in model_schemas:
            if known is not None and name not in known:
                raise ModelError(
                    f"{relative}: references {name}, but there is no model"
                    f" {table.db.lower()}/{table.name.lower()}.sql",
                    [path],
                )
            if name not in depends_on:
                depends_on.append(name)
        elif name not in sources:
            sources.append(name)
    return _Parsed(expression, tuple(sorted(depends_on)), tuple(sorted(sources)))


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
        files = [_relative(models[name].path, sql_dir) for name in cycle]
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


def _description(text: str) -> str:
    """The comment header of a file: its leading `--` lines, without the markers."""
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            content = stripped[2:]
            lines.append(content[1:] if content.startswith(" ") else content)
        elif stripped:
            break
        elif lines:
            lines.append("")
    return "\n".join(lines).strip()


def _summary(description: str) -> str:
    """The first paragraph of a description, on one line."""
    paragraph = description.split("\n\n", 1)[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def _relative(path: Path, sql_dir: Path) -> str:
    """`sql/<schema>/<name>.sql` for messages; the absolute path when it is elsewhere."""
    try:
        return path.resolve().relative_to(Path(sql_dir).resolve().parent).as_posix()
    except ValueError:
        return str(path)


def _generate(expression: exp.Expression, dialect: str, path: Path, sql_dir: Path) -> str:
    """SQL text in the destination's dialect; a construct sqlglot cannot carry over to that
    dialect is an error naming the file, rather than a silently different query."""
    try:
        return expression.sql(dialect=dialect, pretty=True, unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as ex:
        raise ModelError(
            f"{_relative(path, sql_dir)}: cannot be written in the {dialect} dialect: {ex}",
            [path],
        ) from ex


def _dialect(client: SqlClientBase[Any]) -> str:
    return client.capabilities.sqlglot_dialect or SOURCE_DIALECT


def _path(client: SqlClientBase[Any], schema: str, name: str) -> list[str]:
    """`[catalog,] dataset, table` as the destination names them (case folded, not quoted)."""
    return client.make_qualified_table_name_path(name, quote=False, dataset_name=schema)


def _view_table(client: SqlClientBase[Any], schema: str, name: str) -> exp.Table:
    parts = [exp.to_identifier(part, quoted=True) for part in _path(client, schema, name)]
    catalog = parts[0] if len(parts) == 3 else None
    return exp.Table(this=parts[-1], db=parts[-2], catalog=catalog)


def _existing_sources(client: SqlClientBase[Any], sources: Iterable[str]) -> set[str]:
    """The tables or views (`schema.name`) among `sources` that exist in the warehouse.

    Probing each table lets dlt translate the destination's "no such table" error into
    `DatabaseUndefinedRelation`, which keeps this destination-neutral.
    """
    existing = set()
    for source in sorted(set(sources)):
        schema, name = source.split(".", 1)
        probe = exp.select(exp.Literal.number(1)).from_(_view_table(client, schema, name))
        probe = probe.where(exp.false())
        try:
            client.execute_sql(probe.sql(dialect=_dialect(client)))
        except DatabaseUndefinedRelation:
            continue
        existing.add(source)
    return existing


def _resolve(
    expression: exp.Query,
    client: SqlClientBase[Any],
    model_schemas: frozenset[str],
    existing: set[str],
) -> exp.Query:
    """A copy of a model's query ready for the destination: table references qualified the way
    the destination names them, and references to missing raw tables replaced by an empty
    relation having every column the query reads, as a null `varchar`."""
    expression = expression.copy()
    columns = sorted(
        {
            column.name
            for column in expression.find_all(exp.Column)
            if column.name and column.name != "*"
        }
    )
    for table in list(expression.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier) or not table.db or table.catalog:
            continue
        name = _qualified(table.db, table.name)
        if table.db.lower() in model_schemas or name in existing:
            qualified = _view_table(client, table.db, table.name)
            table.set("this", qualified.this)
            table.set("db", qualified.args.get("db"))
            table.set("catalog", qualified.args.get("catalog"))
        else:
            alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(table.name))
            table.replace(_placeholder(columns, alias.copy()))
    return expression


def _placeholder(columns: Sequence[str], alias: exp.TableAlias) -> exp.Subquery:
    """An empty relation with every given column as a null `varchar`."""
    names = list({name.lower(): name for name in columns}.values()) or ["_placeholder"]
    select = exp.select(
        *(
            exp.alias_(
                exp.cast(exp.null(), exp.DataType.build("varchar")),
                exp.to_identifier(name, quoted=True),
            )
            for name in names
        )
    ).where(exp.false())
    return exp.Subquery(this=select, alias=alias)


def _database_message(ex: BaseException) -> str:
    """The database's own message, without dlt's wrapper class."""
    inner = getattr(ex, "dbapi_exception", None) or ex
    return str(inner).strip()


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
