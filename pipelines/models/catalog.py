"""What the build must know of a destination beyond SQL text: how a view is replaced, and
which views read a view. One class per engine, looked up by the client's dlt credentials.

Why per destination: DuckDB replaces a view whatever its columns (`create or replace view`)
and keeps no record of which views read it. Postgres refuses `create or replace view` when a
view loses, renames or retypes a column, and keeps every view's dependencies (`pg_depend`): a
view whose columns change must be dropped and created again, and dropping it drops the views
that read it (`cascade`). Both happen inside the build's transaction, so readers see the old
views or the new ones, never none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any

import sqlglot
from dlt.destinations.sql_client import SqlClientBase
from sqlglot import exp
from sqlglot.errors import SqlglotError

from pipelines.models.discovery import qualified
from pipelines.models.resolve import dialect, view_table


class Catalog:
    """The default: `create or replace view`, and no knowledge of dependents (a destination
    without one cannot tell whether an analyst's view reads a view, so it never cascades)."""

    def replace_view(
        self,
        client: SqlClientBase[Any],
        schema: str,
        name: str,
        create: str,
        owned: Callable[[str], bool],
    ) -> list[str]:
        """Create or replace the view; return the other views the replacement dropped (to be
        created again by the caller)."""
        client.execute_sql(create)
        return []

    def dependents(self, client: SqlClientBase[Any], schema: str, name: str) -> set[str]:
        """The views (`schema.name`) that read the view, directly or through other views."""
        return set()

    def drop_view(self, client: SqlClientBase[Any], schema: str, name: str, cascade: bool) -> None:
        drop = exp.Drop(
            tables=[view_table(client, schema, name)], kind="VIEW", exists=True, cascade=cascade
        )
        client.execute_sql(drop.sql(dialect=dialect(client)))


class DuckDbCatalog(Catalog):
    """DuckDB: replace in place; dependents read from the SQL of every view (DuckDB keeps
    none), so a view an analyst built over a model is seen before that model is dropped."""

    def dependents(self, client: SqlClientBase[Any], schema: str, name: str) -> set[str]:
        views = {
            qualified(view_schema, view): sql
            for view_schema, view, sql in client.execute_sql(
                "select schema_name, view_name, sql from duckdb_views()"
                " where not internal and database_name = current_database()"
            )
            or []
        }
        found: set[str] = set()
        frontier = {qualified(schema, name)}
        while frontier:
            readers = {
                view
                for view, sql in views.items()
                if view not in found and any(_reads(sql, target) for target in frontier)
            }
            found |= readers
            frontier = readers
        return found


class PostgresCatalog(Catalog):
    """Postgres: `create or replace view`, and when the columns changed (SQLSTATE 42P16),
    drop the view with the views reading it and create it again; dependents from `pg_depend`.
    A view apptsync does not own among the dependents stops the build, naming it: dropping it
    would lose someone's work."""

    _CHANGED_COLUMNS = "42P16"  # invalid_table_definition: cannot drop/rename/retype a column
    _SAVEPOINT = "apptsync_replace_view"

    def replace_view(
        self,
        client: SqlClientBase[Any],
        schema: str,
        name: str,
        create: str,
        owned: Callable[[str], bool],
    ) -> list[str]:
        # dlt's client resets the connection after any error, which would end the build's
        # transaction: the attempt goes through the driver's own cursor, under a savepoint
        import psycopg2

        with client.native_connection.cursor() as cursor:
            cursor.execute(f"savepoint {self._SAVEPOINT}")
            try:
                cursor.execute(create)
            except psycopg2.Error as ex:
                cursor.execute(f"rollback to savepoint {self._SAVEPOINT}")
                if ex.pgcode != self._CHANGED_COLUMNS:
                    raise
            else:
                cursor.execute(f"release savepoint {self._SAVEPOINT}")
                return []
        dependents = self.dependents(client, schema, name)
        foreign = sorted(view for view in dependents if not owned(view))
        if foreign:
            raise ViewInUse(
                f"its columns changed, so Postgres must drop and recreate"
                f" {qualified(schema, name)}, but {', '.join(foreign)} (not built by apptsync)"
                " reads it: drop that view first, and create it again after the build"
            )
        self.drop_view(client, schema, name, cascade=bool(dependents))
        client.execute_sql(create)
        return sorted(dependents)

    def dependents(self, client: SqlClientBase[Any], schema: str, name: str) -> set[str]:
        found: set[tuple[str, str]] = set()
        frontier = {(schema, name)}
        while frontier:
            readers: set[tuple[str, str]] = set()
            for target_schema, target in frontier:
                rows = client.execute_sql(_PG_DEPENDENTS, target_schema, target) or []
                readers |= {(str(s), str(v)) for s, v in rows}
            frontier = readers - found
            found |= frontier
        return {qualified(s, v) for s, v in found}


class ViewInUse(Exception):
    """A view apptsync must drop is read by a view it did not build."""


_PG_DEPENDENTS = """
select distinct reader_schema.nspname, reader.relname
from pg_depend
inner join pg_rewrite on pg_depend.objid = pg_rewrite.oid
inner join pg_class as reader on pg_rewrite.ev_class = reader.oid
inner join pg_namespace as reader_schema on reader.relnamespace = reader_schema.oid
inner join pg_class as target on pg_depend.refobjid = target.oid
inner join pg_namespace as target_schema on target.relnamespace = target_schema.oid
where target_schema.nspname = %s and target.relname = %s and reader.oid <> target.oid
"""
"""The views whose rewrite rule reads the given relation (Postgres's own view dependencies)."""

CATALOGS: dict[str, Catalog] = {"duckdb": DuckDbCatalog(), "postgresql": PostgresCatalog()}
"""By the engine (the driver name of dlt's credentials), not the SQL dialect: Redshift speaks
Postgres's dialect but keeps views its own way; any other engine gets the default `Catalog`."""


def catalog_for(client: SqlClientBase[Any]) -> Catalog:
    driver = getattr(client.credentials, "drivername", None)
    return CATALOGS.get(str(driver), Catalog())


def _reads(sql: str, target: str) -> bool:
    """Whether a view's SQL reads `target` (`schema.name`); when the SQL does not parse, any
    mention of the name counts, so a view is never taken for independent by mistake."""
    schema, name = target.split(".", 1)
    try:
        tables: Collection[exp.Table] = list(
            sqlglot.parse_one(sql, read="duckdb").find_all(exp.Table)
        )
    except SqlglotError:
        pattern = rf'\b"?{re.escape(schema)}"?\s*\.\s*"?{re.escape(name)}\b'
        return re.search(pattern, sql, re.IGNORECASE) is not None
    return any(qualified(table.db, table.name) == target for table in tables if table.db)
