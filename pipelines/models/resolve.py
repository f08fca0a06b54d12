"""A parsed model or audit -> SQL the destination runs: references qualified the way the
destination names them, raw tables that have not landed replaced by empty placeholders, and the
text written in the destination's dialect.

Why apart from the build: the audits need exactly the same treatment, and it is the only part
that knows about dialects, so another dlt destination changes this module and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.destinations.sql_client import SqlClientBase
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from pipelines.models.discovery import SOURCE_DIALECT, ModelError, qualified, relative


def dialect(client: SqlClientBase[Any]) -> str:
    """The sqlglot dialect of the client's destination (DuckDB when it does not say)."""
    return client.capabilities.sqlglot_dialect or SOURCE_DIALECT


def _round_as_decimal(node: exp.Expression) -> exp.Expression:
    """`round(x, n)` rounds x as a decimal, and gives back the double the model wrote.

    Why: engines round a double differently. Postgres has no `round(double precision, int)` at
    all, and rounds a numeric half away from zero on its decimal digits (865.795 -> 865.80);
    DuckDB rounds the binary double (865.79499999... -> 865.79). As a decimal (10 places kept
    before rounding), both give what a person expects, and the same on every destination."""
    if isinstance(node, exp.Round) and node.args.get("decimals") is not None:
        decimal = exp.cast(node.this.copy(), exp.DataType.build("decimal(38, 10)"))
        rounded = exp.Round(this=decimal, decimals=node.args["decimals"].copy())
        return exp.cast(rounded, exp.DataType.build("double"))
    return node


_REWRITES: tuple[Callable[[exp.Expression], exp.Expression], ...] = (_round_as_decimal,)
"""Rewrites of what the engines would compute differently from the same SQL (every dialect,
DuckDB's included): the models stay written once, in DuckDB's dialect."""


def generate(expression: exp.Expression, dialect: str, path: Path, sql_dir: Path) -> str:
    """SQL text in the destination's dialect; a construct sqlglot cannot carry over to that
    dialect is an error naming the file, rather than a silently different query."""
    for rewrite in _REWRITES:
        expression = expression.copy().transform(rewrite)
    try:
        return expression.sql(dialect=dialect, pretty=True, unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as ex:
        raise ModelError(
            f"{relative(path, sql_dir)}: cannot be written in the {dialect} dialect: {ex}",
            [path],
        ) from ex


def view_table(client: SqlClientBase[Any], schema: str, name: str) -> exp.Table:
    """`[catalog.]dataset.table` as the destination names it, quoted."""
    path = client.make_qualified_table_name_path(name, quote=False, dataset_name=schema)
    parts = [exp.to_identifier(part, quoted=True) for part in path]
    catalog = parts[0] if len(parts) == 3 else None
    return exp.Table(this=parts[-1], db=parts[-2], catalog=catalog)


def existing_relations(client: SqlClientBase[Any], names: Iterable[str]) -> set[str]:
    """The tables or views (`schema.name`) among `names` that exist in the warehouse.

    Probing each table lets dlt translate the destination's "no such table" error into
    `DatabaseUndefinedRelation`, which keeps this destination-neutral.
    """
    existing = set()
    for name in sorted(set(names)):
        schema, table = name.split(".", 1)
        probe = exp.select(exp.Literal.number(1)).from_(view_table(client, schema, table))
        probe = probe.where(exp.false())
        try:
            client.execute_sql(probe.sql(dialect=dialect(client)))
        except DatabaseUndefinedRelation:
            continue
        existing.add(name)
    return existing


def resolve(
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
        name = qualified(table.db, table.name)
        if table.db.lower() in model_schemas or name in existing:
            destination_table = view_table(client, table.db, table.name)
            table.set("this", destination_table.this)
            table.set("db", destination_table.args.get("db"))
            table.set("catalog", destination_table.args.get("catalog"))
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
