"""Each raw table's columns, declared once as data: (API path, column, type).

Why: a table's columns used to be written four times in a source (the record schema, the
flatten SQL, the nested-field list, dlt's column hints), then again in the docs, the test
fixtures and the staging models, kept together only by matching names. Now a source lists
its tables as `Table`s of `Column`s; the flatten SQL, dlt's hints and the open objects are
generated from them (`resource_spec`), the tests derive their fixtures from them and check
the docs and the staging models against them.

A path is written from the top of an API record: `subject.id` is a field of an object,
`answers[].form.id` a field of each element of a list. A table's `rows` path says what one
row is: `""` one per record, `answers[]` one per element of that list,
`answers[].files[]` one per element of a list inside it, `location` one per record whose
object is set. Its columns read the API at any level of that path: an answer-file row
carries its appointment's `id` and its answer's `answers[].id`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from dlt.common.normalizers.naming.snake_case import NamingConvention

from pipelines.extract.flatten import OPEN, TIMESTAMP, FieldType, OpenObject, RecordSchema
from pipelines.extract.resource import (
    DELETED_COLUMN,
    PARENT_KEY_COLUMN,
    PARENT_TABLE,
    VERSION_COLUMN,
    ResourceSpec,
)

VALUE = "value"  # read from the API at `path`
POSITION = "position"  # the row's 0-based position in the innermost list of its table's rows
PLACEHOLDER = "placeholder"  # null when extracted; a step after the load sets it

LIST_INDEX = "list_index"

# The warehouse types a column may have: DuckDB's name -> dlt's column hint.
DLT_TYPES: dict[str, dict[str, Any]] = {
    "varchar": {"data_type": "text"},
    "bigint": {"data_type": "bigint"},
    "double": {"data_type": "double"},
    "boolean": {"data_type": "bool"},
    "timestamptz": {"data_type": "timestamp", "timezone": True},
}
# The record-schema type (what the reader parses) that lands as each warehouse type.
_API_TYPES = {
    "VARCHAR": "varchar",
    "BIGINT": "bigint",
    "DOUBLE": "double",
    "BOOLEAN": "boolean",
    TIMESTAMP: "timestamptz",
}
_NAMING = NamingConvention()


@dataclass(frozen=True)
class Column:
    """One warehouse column: its name, its DuckDB type and where the API has it."""

    name: str
    type: str
    path: str | None = None
    role: str = VALUE

    def __post_init__(self) -> None:
        if self.type not in DLT_TYPES:
            raise ValueError(f"column {self.name}: type {self.type!r} is not one of {DLT_TYPES}")
        if (self.path is None) != (self.role != VALUE):
            raise ValueError(f"column {self.name}: a path is given exactly for API values")


def position(name: str = LIST_INDEX) -> Column:
    """The row's 0-based position in the API's list."""
    return Column(name, "bigint", role=POSITION)


def placeholder(name: str, type: str) -> Column:
    """A column the sync fills after the load, present (null) from the first file so dlt
    can load the extracted file without rewriting it."""
    return Column(name, type, role=PLACEHOLDER)


def deleted_placeholder() -> Column:
    """Set on an appointment a complete scan no longer returns."""
    return placeholder(DELETED_COLUMN, "timestamptz")


def appointment_key(schema: RecordSchema) -> tuple[Column, Column]:
    """The columns every child row carries: its appointment's id and version (cursor), so
    stale children can be told apart after a reload."""
    id_type = _API_TYPES[schema.id_type]
    return (
        Column(PARENT_KEY_COLUMN, id_type, schema.id_field),
        Column(VERSION_COLUMN, "timestamptz", schema.cursor_field),
    )


@dataclass(frozen=True)
class Table:
    """One raw table: what one of its rows is (`rows`), and its columns in order."""

    name: str
    columns: tuple[Column, ...]
    rows: str = ""
    open_object: str | None = None
    """The path of an object the API documents as open: keys not declared as columns land
    as `<object>__<key>` text columns (see `OpenObject`)."""
    new_fields: bool = False
    """Top-level fields the record schema does not know land as new columns (the parent)."""

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]


def resource_spec(
    source: str, schema: RecordSchema, tables: Sequence[Table], id_arrow_type: pa.DataType
) -> ResourceSpec:
    """The shared resource's spec, its SQL and hints generated from the declared tables.

    Raises ValueError when a declaration disagrees with the record schema: a path it does
    not have, a type that does not fit, or a field no table lands."""
    parent, *children = tables
    if parent.name != PARENT_TABLE or parent.rows or not all(t.rows for t in children):
        raise ValueError(f"{source}: {PARENT_TABLE} comes first, the one table of a row per record")
    _check_every_field_lands(source, schema, tables)
    return ResourceSpec(
        source=source,
        schema=schema,
        table_sql={table.name: flatten_sql(schema, table) for table in tables},
        parent_columns=column_hints(parent, dedup_path=schema.cursor_field),
        child_columns={table.name: column_hints(table) for table in children},
        id_arrow_type=id_arrow_type,
        open_objects={t.name: open_object(t) for t in tables if t.open_object is not None},
        tables=tuple(tables),
    )


def column_hints(table: Table, dedup_path: str | None = None) -> dict[str, dict[str, Any]]:
    """dlt column hints, in the declared order (the flatten SQL selects them in that order
    too, and dlt keeps the order columns arrive in); the column read from `dedup_path`
    sorts merged duplicates, newest first."""
    hints: dict[str, dict[str, Any]] = {}
    for column in table.columns:
        dlt_type = DLT_TYPES[column.type]
        hint: dict[str, Any] = {"data_type": dlt_type["data_type"], "nullable": True}
        hint.update({k: v for k, v in dlt_type.items() if k != "data_type"})
        if dedup_path is not None and column.path == dedup_path:
            hint["dedup_sort"] = "desc"
        hints[column.name] = hint
    return hints


def open_object(table: Table) -> OpenObject:
    """The open object of a table: its whole-object column and its documented keys."""
    assert table.open_object is not None
    prefix = table.open_object + "."
    documented = tuple(
        column.path[len(prefix) :]
        for column in table.columns
        if column.path is not None and column.path.startswith(prefix)
    )
    return OpenObject(_segments(table.open_object)[-1].name, documented)


# --- SQL generation ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Segment:
    name: str
    is_list: bool


def _segments(path: str) -> list[_Segment]:
    if not path:
        return []
    return [_Segment(part.removesuffix("[]"), part.endswith("[]")) for part in path.split(".")]


@dataclass(frozen=True)
class _Levels:
    """A table's rows as nested unnests: level 0 is a record, level k an element of the
    k-th list on the rows path; `trailing` are objects after the last list that must be set."""

    lists: list[list[_Segment]]  # the path from the previous level to each list
    trailing: list[_Segment]

    @classmethod
    def of(cls, rows: str) -> _Levels:
        lists: list[list[_Segment]] = []
        pending: list[_Segment] = []
        for segment in _segments(rows):
            pending.append(segment)
            if segment.is_list:
                lists.append(pending)
                pending = []
        return cls(lists, pending)

    @property
    def depth(self) -> int:
        return len(self.lists)

    def locate(self, path: str) -> tuple[int, list[_Segment]]:
        """The deepest level whose row contains `path`, and the rest of the path from it."""
        rest = _segments(path)
        level = 0
        for steps in self.lists:
            if rest[: len(steps)] != steps:
                break
            rest = rest[len(steps) :]
            level += 1
        return level, rest


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _row(level: int) -> str:
    return "batch" if level == 0 else f"_row_{level}"


def _access(base: str, steps: Iterable[_Segment]) -> str:
    return base + "".join(f".{_quote(step.name)}" for step in steps)


def _json_path(keys: Sequence[_Segment]) -> str:
    inner = ".".join('"' + k.name.replace('"', '\\"') + '"' for k in keys)
    return "'$." + inner.replace("'", "''") + "'"


def flatten_sql(schema: RecordSchema, table: Table) -> str:
    """The select over `batch` (the typed records of one batch) that yields the table.

    Each list on the rows path is unnested in its own CTE (`level_1`, `level_2`, ...); a
    column is computed at the level whose row holds it and carried on by name, so the final
    select lists the columns in their declared order."""
    levels = _Levels.of(table.rows)
    values = {c.name: _value_sql(schema, table, levels, c) for c in table.columns}
    by_level: dict[int, list[str]] = {}
    for column in table.columns:
        if column.role == VALUE:
            by_level.setdefault(levels.locate(str(column.path))[0], []).append(column.name)
        elif column.role == POSITION:
            by_level.setdefault(levels.depth - 1, []).append(column.name)
    ctes = []
    carried: list[str] = []
    for level in range(levels.depth):
        own = [f"{values[name]} as {_quote(name)}" for name in by_level.get(level, [])]
        items = [_quote(n) for n in carried] + own
        items.append(f"unnest({_list_sql(levels, level)}) as {_row(level + 1)}")
        source = "batch" if level == 0 else f"level_{level}"
        ctes.append(f"level_{level + 1} as (select {', '.join(items)} from {source})")
        carried += by_level.get(level, [])
    finals = _final_items(schema, table, levels, values, set(carried))
    if table.open_object is not None:
        finals.append(f"{_object_sql(schema, table, levels)} as {_quote(open_object(table).name)}")
    sql = ("with " + ", ".join(ctes) + " " if ctes else "") + "select " + ", ".join(finals)
    sql += f" from {'batch' if not ctes else f'level_{levels.depth}'}"
    if levels.trailing:
        sql += f" where {_access(_row(levels.depth), levels.trailing)} is not null"
    return sql


def _final_items(
    schema: RecordSchema, table: Table, levels: _Levels, values: dict[str, str], carried: set[str]
) -> list[str]:
    items = []
    if table.new_fields:
        items.append(_pass_through(schema, table, levels))
    for column in table.columns:
        if column.name in carried:
            items.append(_quote(column.name))
        elif values[column.name]:
            items.append(f"{values[column.name]} as {_quote(column.name)}")
    return items


def _pass_through(schema: RecordSchema, table: Table, levels: _Levels) -> str:
    """`*` without the objects and lists: every top-level value, new ones included."""
    if levels.depth or levels.trailing:
        raise ValueError(f"{table.name}: only a table of one row per record takes new fields")
    values = [name for name, ft in schema.fields.items() if isinstance(ft, str)]
    undeclared = sorted(set(values) - {c.path for c in table.columns})
    if undeclared:
        raise ValueError(f"{table.name}: lands {', '.join(undeclared)} but does not declare it")
    # dlt keeps the order the columns arrive in: `*` first, in the record schema's order
    if [c.path for c in table.columns[: len(values)]] != values:
        raise ValueError(f"{table.name}: declare {', '.join(values)} first, in this order")
    nested = [name for name, ft in schema.fields.items() if not isinstance(ft, str)]
    return f"* exclude ({', '.join(_quote(name) for name in nested)})" if nested else "*"


def _list_sql(levels: _Levels, level: int) -> str:
    return _access(_row(level), levels.lists[level])


def _value_sql(schema: RecordSchema, table: Table, levels: _Levels, column: Column) -> str:
    """The expression of one column at its level; empty for a field `*` passes through."""
    where = f"{table.name}.{column.name}"
    if column.role == PLACEHOLDER:
        return f"cast(null as {column.type})"
    if column.role == POSITION:
        if levels.depth == 0:
            raise ValueError(f"{where}: its rows are in no list")
        return f"generate_subscripts({_list_sql(levels, levels.depth - 1)}, 1) - 1"
    path = str(column.path)
    level, rest = levels.locate(path)
    api_type, json_keys = _api_type(schema, path, where)
    if _API_TYPES.get(api_type, "varchar") != column.type:
        raise ValueError(f"{where}: the API's {path} is {api_type}, not {column.type}")
    top_level = level == 0 and len(rest) == 1
    if table.new_fields and top_level:
        if _NAMING.normalize_identifier(path) != column.name:
            raise ValueError(f"{where}: dlt names the API's {path} {column.name!r}")
        return ""  # `* exclude (...)` passes it through under dlt's name
    struct_steps = rest[: len(rest) - len(json_keys)]
    sql = _access(_row(level), struct_steps)
    if json_keys:
        return f"{sql} ->> {_json_path(json_keys)}"
    # the reader casts a top-level timestamp; a nested one is still text
    if api_type == TIMESTAMP and not top_level:
        sql = f"cast({sql} as timestamptz)"
    return sql


def _object_sql(schema: RecordSchema, table: Table, levels: _Levels) -> str:
    path = str(table.open_object)
    where = f"{table.name} open object"
    api_type, json_keys = _api_type(schema, path, where)
    if api_type != OPEN or json_keys:
        raise ValueError(f"{where}: the API's {path} is no open object")
    level, rest = levels.locate(path)
    return _access(_row(level), rest)


def _api_type(schema: RecordSchema, path: str, where: str) -> tuple[str, list[_Segment]]:
    """The record schema's type at `path`, and the keys read inside an open object."""
    field: FieldType = schema.fields
    segments = _segments(path)
    for i, segment in enumerate(segments):
        if field == OPEN:
            return OPEN, segments[i:]
        if not isinstance(field, dict) or segment.name not in field:
            raise ValueError(f"{where}: the record schema has no {path}")
        field = field[segment.name]
        if segment.is_list != isinstance(field, list):
            raise ValueError(
                f"{where}: {segment.name} in {path} is {'not ' * segment.is_list}a list"
            )
        if isinstance(field, list):
            field = field[0]
    if not isinstance(field, str):
        raise ValueError(f"{where}: the API's {path} is an object, not a value")
    return field, []


def _leaves(fields: FieldType, prefix: str = "") -> Iterator[str]:
    if isinstance(fields, list):
        yield from _leaves(fields[0], prefix[:-1] + "[].")
    elif isinstance(fields, dict):
        for name, sub in fields.items():
            yield from _leaves(sub, f"{prefix}{name}.")
    else:
        yield prefix[:-1]


def _check_every_field_lands(source: str, schema: RecordSchema, tables: Sequence[Table]) -> None:
    """A field the reader parses but no table lands would vanish without a trace."""
    landed = {c.path for t in tables for c in t.columns if c.path is not None}
    landed |= {t.open_object for t in tables if t.open_object is not None}
    missing = [leaf for leaf in _leaves(schema.fields) if leaf not in landed]
    if missing:
        raise ValueError(f"{source}: no table lands {', '.join(missing)}")
