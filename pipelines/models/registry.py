"""Which views apptsync built: the table `ops.model_views`, one row per model view.

Why a record: a model file that is deleted leaves its view behind, and only apptsync's own
views may be dropped for it, never a view an analyst made in the same schema. The record also
tells the build which views reading a model are its own (they may be dropped and recreated
with it on Postgres) and which are not (the build stops rather than drop them). It is written
in the build's transaction, so it never disagrees with the views.
"""

from __future__ import annotations

from typing import Any

from dlt.destinations.sql_client import SqlClientBase
from sqlglot import exp

from pipelines.models.discovery import Model, qualified
from pipelines.models.resolve import dialect, view_table

SCHEMA, TABLE = "ops", "model_views"
COLUMNS = {
    "schema_name": "varchar",
    "view_name": "varchar",
    "model_path": "varchar",
    "built_at": "timestamptz",
}
"""The record's columns, in DuckDB's type names (written in the destination's dialect)."""


def ensure(client: SqlClientBase[Any]) -> None:
    """Create the schema and the table when they are missing (inside the build's transaction)."""
    with client.with_alternative_dataset_name(SCHEMA):
        if not client.has_dataset():
            client.create_dataset()
    create = exp.Create(
        this=exp.Schema(
            this=_table(client),
            expressions=[
                exp.ColumnDef(
                    this=exp.to_identifier(name, quoted=True),
                    kind=exp.DataType.build(kind, dialect="duckdb"),
                )
                for name, kind in COLUMNS.items()
            ],
        ),
        kind="TABLE",
        exists=True,
    )
    client.execute_sql(create.sql(dialect=dialect(client)))


def registered(client: SqlClientBase[Any]) -> set[str]:
    """The views (`schema.name`) apptsync recorded as its own."""
    select = exp.select("schema_name", "view_name").from_(_table(client))
    rows = client.execute_sql(select.sql(dialect=dialect(client))) or []
    return {qualified(schema, name) for schema, name in rows}


def record(client: SqlClientBase[Any], model: Model, path: str) -> None:
    """The model's view is apptsync's, built now from `path`."""
    forget(client, model.qualified_name)
    insert = (
        f"insert into {_table(client).sql(dialect=dialect(client))}"
        " (schema_name, view_name, model_path, built_at) values (%s, %s, %s, current_timestamp)"
    )
    client.execute_sql(insert, model.schema, model.name, path)


def forget(client: SqlClientBase[Any], name: str) -> None:
    schema, view = name.split(".", 1)
    delete = (
        f"delete from {_table(client).sql(dialect=dialect(client))}"
        " where schema_name = %s and view_name = %s"
    )
    client.execute_sql(delete, schema, view)


def _table(client: SqlClientBase[Any]) -> exp.Table:
    return view_table(client, SCHEMA, TABLE)
