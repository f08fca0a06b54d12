"""Create or replace the models' views, all in one transaction, in dependency order, with
their descriptions and column documentation as comments.

Why one transaction: a model that fails leaves every view as it was before the build, so
readers never see half of a new version of the models.

Why a selection builds only what it names (as dbt does): a view reads the views upstream of it
as they are in the warehouse, so rebuilding one model is enough when its upstream exists. An
upstream model that has no view yet is built too (a view cannot be created over a missing one),
and said so in the log; one that is missing and excluded is an error naming it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlt.destinations.sql_client import SqlClientBase
from sqlglot import exp

from pipelines.models.discovery import (
    SQL_DIR,
    Model,
    ModelError,
    discover,
    model_schemas,
    parse,
    relative,
    summary,
)
from pipelines.models.resolve import dialect, existing_relations, generate, resolve, view_table
from pipelines.models.selection import select_models, selectors
from pipelines.models.warehouse import database_message
from pipelines.redaction import get_logger

logger = get_logger("apptsync.models")

_COMMENT_DIALECTS = frozenset({"duckdb", "postgres", "redshift", "snowflake"})
"""Dialects that take `comment on view` and `comment on column`; elsewhere the descriptions
stay in the files."""


@dataclass
class _ViewSql:
    """One model's statements: the view, its comment, and a comment per documented column."""

    model: Model
    create: str
    comment: str | None = None
    column_comments: dict[str, str] = field(default_factory=dict)


def build_models(
    client: SqlClientBase[Any],
    select: Iterable[str] | str | None = None,
    sql_dir: Path = SQL_DIR,
    declared: Collection[str] | None = None,
    exclude: Iterable[str] | str | None = None,
) -> list[str]:
    """Create or replace the view of every model (or of those `select` picks, minus `exclude`:
    dbt's selectors, see `selection.py`) in one transaction, in dependency order, and return
    their qualified names. A selected model whose upstream model has no view yet gets it built
    too.

    `client` is an open dlt SQL client (for example from `open_sql_client()` or
    `pipeline.sql_client()`). When a model fails, the transaction is rolled back, so the views
    that were there before stay as they were, and `ModelError` names the file and carries the
    database's message. A model reading a relation that is not a declared raw table (`declared`,
    by default `declared_tables()`) fails before anything is built.
    """
    sql_dir = Path(sql_dir)
    models = discover(sql_dir, declared)
    if selectors(select) or selectors(exclude):
        chosen = select_models(models, selectors(select) or None, exclude)
        models = _with_missing_upstream(client, models, chosen, selectors(exclude))
    if not models:
        return []
    views = _statements(client, models, sql_dir)
    _execute(client, list(dict.fromkeys(model.schema for model in models)), views, sql_dir)
    return [model.qualified_name for model in models]


def _with_missing_upstream(
    client: SqlClientBase[Any], models: list[Model], chosen: list[Model], exclude: list[str]
) -> list[Model]:
    """`chosen` plus every model upstream of it that has no view in the warehouse (and, in turn,
    the missing ones upstream of those), in build order."""
    by_name = {model.qualified_name: model for model in models}
    wanted = {model.qualified_name for model in chosen}
    excluded = {m.qualified_name for m in models} - {
        m.qualified_name for m in select_models(models, None, exclude)
    }
    probed: set[str] = set()
    frontier = {dep for name in wanted for dep in by_name[name].depends_on} - wanted
    while frontier:
        missing = frontier - existing_relations(client, frontier)
        probed |= frontier
        for name in sorted(missing):
            reader = next(w for w in sorted(wanted) if name in by_name[w].depends_on)
            if name in excluded:
                raise ModelError(
                    f"{reader} reads {name}, which has no view in this warehouse and is"
                    " excluded: build it first, or leave it out of --exclude",
                    [by_name[name].path],
                )
            logger.info("building %s too: %s reads it and it has no view yet", name, reader)
        wanted |= missing
        frontier = {d for name in missing for d in by_name[name].depends_on} - wanted - probed
    return [model for model in models if model.qualified_name in wanted]


def _statements(client: SqlClientBase[Any], models: list[Model], sql_dir: Path) -> list[_ViewSql]:
    """Each model's `create or replace view` and comments, in the client's dialect."""
    schemas = model_schemas(sql_dir)
    existing = existing_relations(client, {source for model in models for source in model.sources})
    target = dialect(client)
    views: list[_ViewSql] = []
    for model in models:
        query = resolve(
            parse(model.path, model.sql, sql_dir, schemas, None).expression,
            client,
            schemas,
            existing,
        )
        view = view_table(client, model.schema, model.name)
        create = exp.Create(this=view, kind="VIEW", replace=True, expression=query)
        built = _ViewSql(model, generate(create, target, model.path, sql_dir))
        if target in _COMMENT_DIALECTS:
            if model.description:
                built.comment = _comment(view, summary(model.description), target)
            for column, text in model.column_docs:
                built.column_comments[column] = _column_comment(view, column, text, target)
        views.append(built)
    return views


def _comment(view: exp.Table, text: str, target: str) -> str:
    return exp.Comment(this=view.copy(), kind="VIEW", expression=exp.Literal.string(text)).sql(
        dialect=target
    )


def _column_comment(view: exp.Table, column: str, text: str, target: str) -> str:
    name = exp.Column(
        this=exp.to_identifier(column, quoted=True),
        table=view.this.copy(),
        db=view.args["db"].copy(),
        catalog=view.args["catalog"].copy() if view.args.get("catalog") else None,
    )
    return exp.Comment(this=name, kind="COLUMN", expression=exp.Literal.string(text)).sql(
        dialect=target
    )


def _execute(
    client: SqlClientBase[Any],
    schemas: list[str],
    views: list[_ViewSql],
    sql_dir: Path,
) -> None:
    """Create the schemas and the views, with their comments, in one transaction."""
    # the database's error is raised through the transaction (which rolls back) and only then
    # wrapped: dlt's transaction context re-raises what it catches as a database error
    current: Model | None = None
    try:
        with client.begin_transaction():
            for schema in schemas:
                with client.with_alternative_dataset_name(schema):
                    if not client.has_dataset():
                        client.create_dataset()
            for view in views:
                current = view.model
                client.execute_sql(view.create)
                if view.comment:
                    client.execute_sql(view.comment)
                _comment_columns(client, view)
    except Exception as ex:
        where = relative(current.path, sql_dir) if current else "creating the model schemas"
        raise ModelError(
            f"{where}: {database_message(ex)}", [current.path] if current else []
        ) from ex


def _comment_columns(client: SqlClientBase[Any], view: _ViewSql) -> None:
    """Comment every documented column the view has. A documented column it lacks is logged,
    not raised: a stale line of documentation must not stop the models at 3 a.m. (the docs
    test fails on it instead)."""
    if not view.column_comments:
        return
    model = view.model
    table = view_table(client, model.schema, model.name)
    probe = exp.select(exp.Star()).from_(table).limit(0).sql(dialect=dialect(client))
    with client.execute_query(probe) as cursor:
        columns = {column[0] for column in cursor.description}
    for column, statement in view.column_comments.items():
        if column in columns:
            client.execute_sql(statement)
        else:
            logger.warning(
                "%s: the documentation names column %s, which the view does not have",
                model.qualified_name,
                column,
            )
