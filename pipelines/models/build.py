"""Create or replace the models' views, all in one transaction, in dependency order.

Why one transaction: a model that fails leaves every view as it was before the build, so
readers never see half of a new version of the models.
"""

from __future__ import annotations

from collections.abc import Collection
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
    select_models,
    summary,
)
from pipelines.models.resolve import dialect, existing_relations, generate, resolve, view_table
from pipelines.models.warehouse import database_message

_VIEW_COMMENT_DIALECTS = frozenset({"duckdb", "postgres", "redshift", "snowflake"})
"""Dialects that take `comment on view`; elsewhere the description stays in the file."""


def build_models(
    client: SqlClientBase[Any],
    select: str | None = None,
    sql_dir: Path = SQL_DIR,
    declared: Collection[str] | None = None,
) -> list[str]:
    """Create or replace the view of every model (or of `select` and its upstream models) in
    one transaction, in dependency order, and return their qualified names.

    `client` is an open dlt SQL client (for example from `open_sql_client()` or
    `pipeline.sql_client()`). When a model fails, the transaction is rolled back, so the views
    that were there before stay as they were, and `ModelError` names the file and carries the
    database's message. A model reading a relation that is not a declared raw table (`declared`,
    by default `declared_tables()`) fails before anything is built.
    """
    sql_dir = Path(sql_dir)
    models = discover(sql_dir, declared)
    if select:
        models = select_models(models, select)
    if not models:
        return []
    statements = _statements(client, models, sql_dir)
    _execute(client, list(dict.fromkeys(model.schema for model in models)), statements, sql_dir)
    return [model.qualified_name for model in models]


def _statements(
    client: SqlClientBase[Any], models: list[Model], sql_dir: Path
) -> list[tuple[Model, str]]:
    """Each model's `create or replace view` (and `comment on view`), in the client's dialect."""
    schemas = model_schemas(sql_dir)
    existing = existing_relations(client, {source for model in models for source in model.sources})
    target = dialect(client)
    statements: list[tuple[Model, str]] = []
    for model in models:
        query = resolve(
            parse(model.path, model.sql, sql_dir, schemas, None).expression,
            client,
            schemas,
            existing,
        )
        view = view_table(client, model.schema, model.name)
        create = exp.Create(this=view, kind="VIEW", replace=True, expression=query)
        statements.append((model, generate(create, target, model.path, sql_dir)))
        if model.description and target in _VIEW_COMMENT_DIALECTS:
            comment = exp.Comment(
                this=view.copy(),
                kind="VIEW",
                expression=exp.Literal.string(summary(model.description)),
            )
            statements.append((model, generate(comment, target, model.path, sql_dir)))
    return statements


def _execute(
    client: SqlClientBase[Any],
    schemas: list[str],
    statements: list[tuple[Model, str]],
    sql_dir: Path,
) -> None:
    """Create the schemas and run the statements in one transaction."""
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
        where = relative(current.path, sql_dir) if current else "creating the model schemas"
        raise ModelError(
            f"{where}: {database_message(ex)}", [current.path] if current else []
        ) from ex
