"""Turn batches of API records into typed Arrow tables with DuckDB.

Why: dlt's per-record normalizer is the slow part of a sync. DuckDB parses a batch of JSON
records into typed, nested columns at native speed, tells good records from malformed ones
with vectorised checks, and flattens nested lists into child tables. dlt then receives
plain Arrow tables and still does the merge, schema evolution and state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Union

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.schema.typing import TColumnSchema

# A record schema: scalar type names, nested objects as dicts, lists of objects as 1-lists.
FieldType = Union[str, "Struct", list["Struct"]]
Struct = dict[str, FieldType]

TIMESTAMP = "TIMESTAMP"  # read as text, validated and cast to timestamptz
OPEN = "JSON"  # an open object (see OpenObject): parsed later, whole, as JSON text
ROW = "_row"
REASON = "_reason"
QUARANTINE_TABLE = "_quarantine"


@dataclass(frozen=True)
class RecordSchema:
    """What one API record looks like, and which fields identify and order it."""

    fields: Struct
    id_field: str
    id_type: str  # the DuckDB type the id must cast to: VARCHAR or BIGINT
    cursor_field: str
    required: tuple[str, ...] = ()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _timestamp_paths(ft: Struct, prefix: str = "") -> Iterable[str]:
    """The SQL path of every timestamp field (nested objects included), for validation."""
    for name, sub in ft.items():
        path = f"{prefix}{_quote(name)}"
        if sub == TIMESTAMP:
            yield path
        elif isinstance(sub, dict):
            yield from _timestamp_paths(sub, path + ".")


def _invalid_date_checks(schema: RecordSchema) -> list[str]:
    """SQL `case` arms naming the first unparsable date of a record, lists included."""
    checks = []
    for path in _timestamp_paths(schema.fields):
        checks.append(
            f"when {path} is not null and try_cast({path} as timestamptz) is null "
            f"then 'unparsable date in {path.replace(chr(34), '')}: ' || {path}"
        )
    for name, sub in schema.fields.items():
        if isinstance(sub, list) and isinstance(sub[0], dict):
            inner = list(_timestamp_paths(sub[0], "x."))
            if inner:
                cond = " or ".join(
                    f"({p} is not null and try_cast({p} as timestamptz) is null)" for p in inner
                )
                checks.append(
                    f"when len(list_filter({_quote(name)}, lambda x: {cond})) > 0 "
                    f"then 'unparsable date in {name}[]'"
                )
    return checks


@dataclass(frozen=True)
class OpenObject:
    """An object the API documents as open ("additional properties are allowed").

    Its table's SQL selects it whole, as JSON, in a column named `name`, next to columns
    for its documented keys. Any other key found in a batch lands as a text column
    `<name>__<key>` (dlt normalizes the name), so a field the API adds is never dropped."""

    name: str
    documented: tuple[str, ...]


@dataclass
class Quarantined:
    """A record that could not be loaded, with the reason and the text the API sent."""

    record: Any  # parsed, or the text itself when it is not JSON
    reason: str
    raw: str


@dataclass
class BatchResult:
    good: pa.Table | None
    quarantined: list[Quarantined] = field(default_factory=list)


class BatchReader:
    """Reads batches of records into one typed Arrow table, setting malformed ones aside.

    One DuckDB connection per sync run: cheap to keep, costly to recreate for every batch.
    """

    def __init__(self, schema: RecordSchema) -> None:
        self.schema = schema
        self.known = set(schema.fields)
        self._must_have = (schema.id_field, *schema.required)
        self.con = duckdb.connect()
        self.con.execute("set TimeZone = 'UTC'")

    def close(self) -> None:
        self.con.close()

    def read_texts(self, texts: pa.Array) -> BatchResult:
        """Typed rows for the good records, the others quarantined with their reason.

        Records arrive as the JSON text the API sent: DuckDB parses them (without the GIL)
        and quarantined records keep exactly that text."""
        rows = pa.array(range(len(texts)), pa.int64())
        keys, repeated = self._top_level_keys(texts, rows)
        parsed = _last_key_wins(texts, repeated) if repeated else texts
        extra = sorted(key for key in keys if key not in self.known)
        self.con.register("texts", pa.table({"r": parsed, "sent": texts, ROW: rows}))
        try:
            self.con.execute(f"create or replace temp table staged as {self._staging_sql(extra)}")
        finally:
            self.con.unregister("texts")
        quarantined = [
            Quarantined(_loads_or_text(text), reason, raw)
            for text, raw, reason in self.con.execute(
                f"select r, sent, {REASON} from staged where {REASON} is not null order by {ROW}"
            ).fetchall()
        ]
        good = self.con.sql(
            f"select * exclude ({ROW}, {REASON}, r, sent) from staged where {REASON} is null"
        )
        return BatchResult(good.to_arrow_table(), quarantined)

    def _top_level_keys(self, texts: pa.Array, rows: pa.Array) -> tuple[list[str], list[int]]:
        """Every top-level key in the batch, and the rows of records that repeat one."""
        self.con.register("keyed", pa.table({"r": texts, ROW: rows}))
        try:
            keys, repeated = self.con.execute(
                f"""with objects as (
                    select {ROW}, json_keys(r) as keys from keyed where json_type(r) = 'OBJECT'
                )
                select (select list(distinct k) from (select unnest(keys) as k from objects)),
                    (select list({ROW}) from objects where len(keys) > len(list_distinct(keys)))"""
            ).fetchall()[0]
        finally:
            self.con.unregister("keyed")
        return keys or [], repeated or []

    def _staging_sql(self, extra: list[str]) -> str:
        """Typed columns and a quarantine reason for each record of `texts`; fields the
        schema does not know (`extra`) land as text."""
        # The id is read as text whatever its JSON kind, then cast strictly (`_id_cast`).
        fields = {**self.schema.fields, self.schema.id_field: "VARCHAR"}
        structure = orjson.dumps(_json_structure(fields)).decode()
        selects = [self._select_expr(name, ft) for name, ft in self.schema.fields.items()]
        selects += [f"r ->> '$.{_json_key(name)}' as {_quote(name)}" for name in extra]
        return f"""with parsed as (
                select r, sent, {ROW}, {_shape_check(fields)} as _shape,
                    case when json_type(r) <> 'OBJECT'
                        then 'record is a JSON ' || lower(json_type(r)) || ', not an object'
                    end as _kind,
                    unnest(from_json(r, '{_sql_str(structure)}'))
                from texts
            )
            select {", ".join(selects)}, r, sent, {ROW},
                coalesce(_kind, _shape, {self._reason_sql()}) as {REASON}
            from parsed"""

    def _reason_sql(self) -> str:
        """Why a staged record cannot load (null when it can), first reason wins."""
        checks = []
        for name in self._must_have:
            q = _quote(name)
            checks.append(f"when {q} is null or cast({q} as varchar) = '' then 'missing {name}'")
        id_sql = _quote(self.schema.id_field)
        checks.append(
            f"when {self._id_cast()} is null "
            f"then 'id is not a valid {self.schema.id_type.lower()}: ' || {id_sql}"
        )
        checks += _invalid_date_checks(self.schema)
        return "case " + " ".join(checks) + " end"

    def _id_cast(self) -> str:
        """The id as its type, null when it is not one: an integer id may arrive as a JSON
        number or a numeric string, but `1.5` or `"1.5"` is no id (DuckDB would round it)."""
        q = _quote(self.schema.id_field)
        if self.schema.id_type == "BIGINT":
            digits = f"regexp_full_match(trim({q}), '-?[0-9]+')"
            return f"case when {digits} then try_cast(trim({q}) as BIGINT) end"
        return f"try_cast({q} as {self.schema.id_type})"

    def _select_expr(self, name: str, ft: FieldType) -> str:
        q = _quote(name)
        if name == self.schema.id_field:
            return f"{self._id_cast()} as {q}"
        if ft == TIMESTAMP:
            return f"try_cast({q} as timestamptz) as {q}"
        return q


def _last_key_wins(texts: pa.Array, rows: list[int]) -> pa.Array:
    """Records with a repeated top-level key, rewritten as JSON parsers read them.

    Valomnia repeats keys (`appointmentCategoryId` twice, the stale value first). Parsers
    (orjson, browsers) keep the last value; DuckDB keeps the first.
    """
    rows = sorted(rows)  # replace_with_mask fills the masked slots in order
    rewritten = [orjson.dumps(orjson.loads(texts[row].as_py())).decode() for row in rows]
    positions = pa.array(range(len(texts)), pa.int64())
    mask = pc.is_in(positions, value_set=pa.array(rows, pa.int64()))
    return pc.replace_with_mask(texts, mask, pa.array(rewritten, pa.string()))


def _json_structure(ft: FieldType) -> Any:
    """The structure argument of DuckDB's `from_json` for a record schema."""
    if isinstance(ft, list):
        return [_json_structure(ft[0])]
    if isinstance(ft, dict):
        return {name: _json_structure(sub) for name, sub in ft.items()}
    return "VARCHAR" if ft == TIMESTAMP else ft


_JSON_KINDS = {
    "BIGINT": ["BIGINT", "UBIGINT"],
    "DOUBLE": ["DOUBLE", "BIGINT", "UBIGINT"],
    "BOOLEAN": ["BOOLEAN"],
}


def _shape_check(fields: Struct) -> str:
    """SQL naming the first top-level field whose JSON kind does not fit the schema (e.g. a
    string where an object belongs), so the record is quarantined rather than loaded with
    that field silently null. One parse of the record for all fields."""
    checked = []
    for name, ft in fields.items():
        if isinstance(ft, dict):
            checked.append((name, ["OBJECT"]))
        elif isinstance(ft, list):
            checked.append((name, ["ARRAY"]))
        elif ft in _JSON_KINDS:
            checked.append((name, _JSON_KINDS[ft]))
    paths = ", ".join(f"'$.{_json_key(name)}'" for name, _ in checked)
    allowed = ", ".join("[" + ", ".join(f"'{k}'" for k in kinds) + "]" for _, kinds in checked)
    names = ", ".join(f"'{_sql_str(name)}'" for name, _ in checked)
    return f"""(select 'unexpected shape: ' || t[3] || ' is ' || lower(t[1])
        from (select unnest(list_filter(
            list_zip(json_type(r, [{paths}]), [{allowed}], [{names}]),
            lambda t: t[1] is not null and t[1] <> 'NULL' and not list_contains(t[2], t[1])
        )) as t) limit 1)"""


def _json_key(name: str) -> str:
    return '"' + _sql_str(name).replace('"', '\\"') + '"'


def _loads_or_text(raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


def _sql_str(value: str) -> str:
    return value.replace("'", "''")


class Flattener:
    """Splits a batch of typed nested rows into parent and child tables with SQL.

    It works in the reader's in-memory database (a cursor of `con`): a second database
    would cost ~15 ms to open on every run."""

    def __init__(
        self,
        table_sql: Mapping[str, str],
        open_objects: Mapping[str, OpenObject] | None,
        con: duckdb.DuckDBPyConnection,
    ) -> None:
        self.table_sql = dict(table_sql)
        self.open_objects = dict(open_objects or {})
        self.con = con.cursor()
        self.con.execute("set TimeZone = 'UTC'")

    def close(self) -> None:
        self.con.close()

    def flatten(self, batch: pa.Table) -> dict[str, pa.Table]:
        """One Arrow table per target table; new top-level fields ride along on the parent,
        new keys of an open object on its table."""
        self.con.register("batch", batch)
        try:
            return {name: self._table(name, sql) for name, sql in self.table_sql.items()}
        finally:
            self.con.unregister("batch")

    def _table(self, name: str, sql: str) -> pa.Table:
        open_object = self.open_objects.get(name)
        if open_object is None:
            return self.con.sql(sql).to_arrow_table()
        self.con.execute(f"create or replace temp table flat as {sql}")
        whole = _quote(open_object.name)
        found = self.con.execute(
            f"select distinct unnest(json_keys({whole})) from flat "
            f"where json_type({whole}) = 'OBJECT'"
        ).fetchall()
        added = sorted(key for (key,) in found if key not in open_object.documented)
        columns = "".join(
            f", {whole} ->> '$.{_json_key(key)}' as {_quote(f'{open_object.name}__{key}')}"
            for key in added
        )
        return self.con.sql(f"select * exclude ({whole}){columns} from flat").to_arrow_table()


def quarantine_table(
    source: str, resource: str, items: Sequence[Quarantined], id_field: str
) -> pa.Table:
    """Quarantined records as rows of the `_quarantine` table, raw JSON kept verbatim."""
    now = datetime.now(UTC)
    rows = []
    for item in items:
        record_id = item.record.get(id_field) if isinstance(item.record, dict) else None
        rows.append(
            {
                "source": source,
                "resource": resource,
                "record_id": None if record_id is None else str(record_id),
                "reason": item.reason,
                "raw_json": item.raw,
                "quarantined_at": now,
            }
        )
    return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)


QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("resource", pa.string()),
        ("record_id", pa.string()),
        ("reason", pa.string()),
        ("raw_json", pa.string()),
        ("quarantined_at", pa.timestamp("us", tz="UTC")),
    ]
)

QUARANTINE_COLUMNS: dict[str, TColumnSchema] = {
    "source": {"data_type": "text", "nullable": True},
    "resource": {"data_type": "text", "nullable": True},
    "record_id": {"data_type": "text", "nullable": True},
    "reason": {"data_type": "text", "nullable": True},
    "raw_json": {"data_type": "text", "nullable": True},
    "quarantined_at": {"data_type": "timestamp", "timezone": True, "nullable": True},
}
