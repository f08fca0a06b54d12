"""Create or replace the models' views, all in one transaction, in dependency order, with
their descriptions and column documentation as comments.

Why one transaction: a model that fails leaves every view as it was before the build, so
readers never see half of a new version of the models.

Why a selection builds only what it names (as dbt does): a view reads the views upstream of it
as they are in the warehouse, so rebuilding one model is enough when its upstream exists. An
upstream model that has no view yet is built too (a view cannot be created over a missing one),
and said so in the log; one that is missing and excluded is an error naming it.

How a view is replaced depends on the destination (`catalog.py`): in place on DuckDB; on
Postgres, a view whose columns changed is dropped and created again, with the apptsync views
that read it. A full build also drops the views of model files that no longer exist, if
apptsync built them (`registry.py`) and no view of someone else reads them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlt.destinations.sql_client import SqlClientBase
from sqlglot import exp

from pipelines.models import registry
from pipelines.models.catalog import ViewInUse, catalog_for
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
    everything = discover(sql_dir, declared)
    models = everything
    full = not (selectors(select) or selectors(exclude))
    if not full:
        chosen = select_models(models, selectors(select) or None, exclude)
        models = _with_missing_upstream(client, models, chosen, selectors(exclude))
    if not models:
        return []
    build = _Build(client, sql_dir, everything)
    views = [build.statements(model) for model in models]
    return build.run(views, drop_stale=full)


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


class _Build:
    """One build: each model's statements, then running them in one transaction."""

    def __init__(self, client: SqlClientBase[Any], sql_dir: Path, models: list[Model]) -> None:
        self.client = client
        self.sql_dir = sql_dir
        self.models = {model.qualified_name: model for model in models}
        self.order = {name: index for index, name in enumerate(self.models)}
        self.schemas = model_schemas(sql_dir)
        self.target = dialect(client)
        self.catalog = catalog_for(client)
        # probed once, before the transaction: on Postgres a failed probe inside it would end
        # it (dlt resets the connection after an error)
        self.existing = existing_relations(client, {s for m in models for s in m.sources})

    def statements(self, model: Model) -> _ViewSql:
        """The model's `create or replace view` and comments, in the client's dialect."""
        existing = {name for name in model.sources if name in self.existing}
        query = resolve(
            parse(model.path, model.sql, self.sql_dir, self.schemas, None).expression,
            self.client,
            self.schemas,
            existing,
        )
        view = view_table(self.client, model.schema, model.name)
        create = exp.Create(this=view, kind="VIEW", replace=True, expression=query)
        built = _ViewSql(model, generate(create, self.target, model.path, self.sql_dir))
        if self.target in _COMMENT_DIALECTS:
            if model.description:
                built.comment = _comment(view, summary(model.description), self.target)
            for column, text in model.column_docs:
                built.column_comments[column] = _column_comment(view, column, text, self.target)
        return built

    def run(self, views: list[_ViewSql], drop_stale: bool) -> list[str]:
        """Create the schemas and the views, with their comments and their record, in one
        transaction; return the views built, in order (a replacement that dropped views
        reading it builds them too)."""
        # the database's error is raised through the transaction (which rolls back) and only
        # then wrapped: dlt's transaction context re-raises what it catches as a database error
        current: Model | None = None
        built: list[str] = []
        try:
            with self.client.begin_transaction():
                for schema in dict.fromkeys(view.model.schema for view in views):
                    with self.client.with_alternative_dataset_name(schema):
                        if not self.client.has_dataset():
                            self.client.create_dataset()
                registry.ensure(self.client)
                owned = registry.registered(self.client) | set(self.models)
                queue = list(views)
                while queue:
                    view = queue.pop(0)
                    current = view.model
                    dropped = self.catalog.replace_view(
                        self.client, current.schema, current.name, view.create, owned.__contains__
                    )
                    queue = self._requeue(queue, dropped)
                    self._comment(view)
                    registry.record(self.client, current, relative(current.path, self.sql_dir))
                    built.append(current.qualified_name)
                current = None
                if drop_stale:
                    self._drop_stale()
        except ModelError:
            raise
        except ViewInUse as ex:
            assert current is not None
            raise ModelError(
                f"{relative(current.path, self.sql_dir)}: {ex}", [current.path]
            ) from ex
        except Exception as ex:
            where = relative(current.path, self.sql_dir) if current else "building the models"
            raise ModelError(
                f"{where}: {database_message(ex)}", [current.path] if current else []
            ) from ex
        return built

    def _requeue(self, queue: list[_ViewSql], dropped: list[str]) -> list[_ViewSql]:
        """The queue with the models whose views a replacement dropped, in build order (they
        read the replaced view, so none was built yet); a dropped view whose model file is
        gone stays dropped."""
        queued = {view.model.qualified_name for view in queue}
        for name in dropped:
            registry.forget(self.client, name)
            if name not in self.models:
                logger.info(
                    "dropped view %s: it read a replaced view; its model file is gone", name
                )
            elif name not in queued:
                logger.info("building %s too: Postgres dropped it with a view it reads", name)
                queue.append(self.statements(self.models[name]))
                queued.add(name)
        return sorted(queue, key=lambda view: self.order[view.model.qualified_name])

    def _comment(self, view: _ViewSql) -> None:
        if view.comment:
            self.client.execute_sql(view.comment)
        _comment_columns(self.client, view)

    def _drop_stale(self) -> None:
        """Drop the views apptsync built whose model file is gone, unless a view apptsync did
        not build reads one (then it stays, with a warning: dropping it would break that)."""
        recorded = registry.registered(self.client)
        for name in sorted(recorded - set(self.models)):
            schema, view = name.split(".", 1)
            readers = self.catalog.dependents(self.client, schema, view)
            foreign = sorted(reader for reader in readers if reader not in recorded)
            if foreign:
                logger.warning(
                    "kept view %s although its model file is gone: %s (not built by apptsync)"
                    " reads it",
                    name,
                    ", ".join(foreign),
                )
                continue
            self.catalog.drop_view(self.client, schema, view, cascade=bool(readers))
            for gone in [name, *sorted(readers)]:
                registry.forget(self.client, gone)
            logger.info("dropped view %s: its model file is gone", name)


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
