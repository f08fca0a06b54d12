"""The declared column lists are what a sync lands, and the SQL generated from them flattens
every shape a table's rows can have."""

from __future__ import annotations

from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pytest

from pipelines.extract.columns import (
    Column,
    Table,
    appointment_key,
    deleted_placeholder,
    position,
    resource_spec,
)
from pipelines.extract.flatten import OPEN, TIMESTAMP, BatchReader, Flattener, RecordSchema
from pipelines.extract.resource import DELETED_COLUMN, PARENT_KEY_COLUMN, VERSION_COLUMN
from pipelines.load.pipeline import run_source
from pipelines.simulator import Simulator
from pipelines.sources import SOURCES
from tests.utils import assert_ok, configure_source, rows


def duckdb_type(name: str) -> str:
    """DuckDB's own spelling of a type (`timestamptz` -> TIMESTAMP WITH TIME ZONE)."""
    with duckdb.connect() as con:
        row = con.execute(f"select typeof(cast(null as {name}))").fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_a_sync_lands_exactly_the_declared_columns_in_their_order(
    source: str, simulator: Simulator, monkeypatch: pytest.MonkeyPatch, warehouse: Path
):
    configure_source(source, simulator, monkeypatch)
    assert_ok(run_source(source))

    spec = SOURCES[source].spec
    for table in spec.tables:
        landed = rows(
            warehouse,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            source,
            table.name,
        )
        declared = [(c.name, duckdb_type(c.type)) for c in table.columns]
        # keys of an open object the declaration does not name land as text, after the rest
        extra = spec.open_objects[table.name].name + "__" if table.open_object else None
        opened = [c for c in landed if extra and c[0].startswith(extra) and c not in declared]
        assert all(kind == "VARCHAR" for _, kind in opened)
        assert landed == [*declared, *opened, ("_dlt_load_id", "VARCHAR")], table.name


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_child_rows_carry_the_key_and_version_cleanup_reads(source: str):
    spec = SOURCES[source].spec
    parent, *children = spec.tables
    assert parent.column_names[-1] == DELETED_COLUMN
    for child in children:
        assert child.column_names[:2] == [PARENT_KEY_COLUMN, VERSION_COLUMN], child.name


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_only_the_cursor_column_sorts_merged_duplicates(source: str):
    entry = SOURCES[source]
    sorted_by = [n for n, hint in entry.spec.parent_columns.items() if "dedup_sort" in hint]
    assert sorted_by == [entry.cursor_column]
    assert entry.spec.parent_columns[entry.cursor_column]["dedup_sort"] == "desc"


# A small record with every shape: values, an object, a list, a list in a list, an object
# that may be missing, an open object, a nested timestamp.
SCHEMA = RecordSchema(
    fields={
        "id": "VARCHAR",
        "changedAt": TIMESTAMP,
        "owner": {"id": "VARCHAR"},
        "items": [{"id": "VARCHAR", "at": TIMESTAMP, "extra": OPEN, "tags": [{"id": "BIGINT"}]}],
        "place": {"name": "VARCHAR", "point": {"x": "DOUBLE"}},
    },
    id_field="id",
    id_type="VARCHAR",
    cursor_field="changedAt",
    required=("changedAt",),
)
KEY = appointment_key(SCHEMA)
TABLES = (
    Table(
        "appointments",
        new_fields=True,
        columns=(
            Column("id", "varchar", "id"),
            Column("changed_at", "timestamptz", "changedAt"),
            Column("owner__id", "varchar", "owner.id"),
            deleted_placeholder(),
        ),
    ),
    Table(
        "appointments__items",
        rows="items[]",
        open_object="items[].extra",
        columns=(
            *KEY,
            position(),
            Column("id", "varchar", "items[].id"),
            Column("at", "timestamptz", "items[].at"),
            Column("extra__kind", "varchar", "items[].extra.kind"),
        ),
    ),
    Table(
        "appointments__items__tags",
        rows="items[].tags[]",
        columns=(
            *KEY,
            position(),
            Column("item_id", "varchar", "items[].id"),
            Column("id", "bigint", "items[].tags[].id"),
        ),
    ),
    Table(
        "appointments__place",
        rows="place",
        columns=(
            KEY[0],
            Column("name", "varchar", "place.name"),
            Column("point__x", "double", "place.point.x"),
        ),
    ),
)
RECORDS = [
    {
        "id": "a",
        "changedAt": "2026-01-02T03:04:05Z",
        "owner": {"id": "o1"},
        "items": [
            {"id": "i1", "at": "2026-01-01T00:00:00Z", "extra": {"kind": "k", "colour": "red"}},
            {"id": "i2", "tags": [{"id": 7}, {"id": 8}]},
        ],
        "place": {"name": "Gent", "point": {"x": 3.5}},
        "brandNew": "yes",
    },
    {"id": "b", "changedAt": "2026-01-02T00:00:00Z", "items": [], "place": None},
]


def flatten(tables: tuple[Table, ...]) -> dict[str, list[dict[str, object]]]:
    spec = resource_spec("demo", SCHEMA, tables, pa.string())
    reader = BatchReader(spec.schema)
    flattener = Flattener(spec.table_sql, spec.open_objects, reader.con)
    try:
        texts = pa.array([orjson.dumps(r).decode() for r in RECORDS], pa.string())
        batch = reader.read_texts(texts).good
        assert batch is not None
        return {name: table.to_pylist() for name, table in flattener.flatten(batch).items()}
    finally:
        flattener.close()
        reader.close()


def test_generated_sql_lands_every_shape_of_rows():
    flat = flatten(TABLES)

    changed_a = flat["appointments"][0]["changedAt"]
    assert flat["appointments"] == [
        {
            "id": "a",
            "changedAt": changed_a,
            "brandNew": "yes",
            "owner__id": "o1",
            "deleted_at": None,
        },
        {
            "id": "b",
            "changedAt": flat["appointments"][1]["changedAt"],
            "brandNew": None,
            "owner__id": None,
            "deleted_at": None,
        },
    ]
    assert str(changed_a) == "2026-01-02 03:04:05+00:00"
    items = flat["appointments__items"]
    assert [(i["appointment_id"], i["list_index"], i["id"], i["extra__kind"]) for i in items] == [
        ("a", 0, "i1", "k"),
        ("a", 1, "i2", None),
    ]
    assert str(items[0]["at"]) == "2026-01-01 00:00:00+00:00"
    assert items[0]["extra__colour"] == "red"  # an undeclared key of the open object
    assert [
        (t["appointment_id"], t["list_index"], t["item_id"], t["id"])
        for t in flat["appointments__items__tags"]
    ] == [("a", 0, "i2", 7), ("a", 1, "i2", 8)]
    assert flat["appointments__place"] == [{"appointment_id": "a", "name": "Gent", "point__x": 3.5}]


def _with(table: Table, *columns: Column) -> tuple[Table, ...]:
    changed = Table(table.name, columns, table.rows, table.open_object, table.new_fields)
    return tuple(changed if t.name == table.name else t for t in TABLES)


@pytest.mark.parametrize(
    ("columns", "problem"),
    [
        pytest.param(
            (*TABLES[3].columns, Column("city", "varchar", "place.city")),
            "the record schema has no place.city",
            id="unknown-path",
        ),
        pytest.param(
            (*TABLES[3].columns[:2], Column("point__x", "bigint", "place.point.x")),
            "the API's place.point.x is DOUBLE, not bigint",
            id="wrong-type",
        ),
        pytest.param(
            TABLES[3].columns[:2],
            "no table lands place.point.x",
            id="field-nobody-lands",
        ),
        pytest.param(
            (*TABLES[3].columns, position()),
            "its rows are in no list",
            id="position-outside-a-list",
        ),
    ],
)
def test_a_declaration_that_disagrees_with_the_schema_is_refused(
    columns: tuple[Column, ...], problem: str
):
    with pytest.raises(ValueError, match=problem):
        flatten(_with(TABLES[3], *columns))


def test_a_passed_through_field_must_carry_dlts_name():
    parent = TABLES[0]
    renamed = (
        parent.columns[0],
        Column("changed", "timestamptz", "changedAt"),
        *parent.columns[2:],
    )
    with pytest.raises(ValueError, match="dlt names the API's changedAt 'changed'"):
        flatten(_with(parent, *renamed))
