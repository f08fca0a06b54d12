"""Postgres: a warehouse on a server that several machines share.

Settings are dlt's own: `destination.postgres.credentials` (environment
`DESTINATION__POSTGRES__CREDENTIALS`, `postgresql://user:password@host:5432/db`), so dlt,
`dlt pipeline … info` and apptsync read the same. The password is registered with the
redactor and never printed: `location()` is the URL with `***` in its place.

What differs from a DuckDB file:
- no hold: the server takes care of concurrent readers and writers;
- the run lock is a session-level advisory lock (`pg_try_advisory_lock`) held by a
  connection of its own for the whole run: two machines' runs collide, and the server drops
  the lock when the holder's connection ends (a `kill -9` too). The holder's session carries
  `application_name = "apptsync <command> <pid>@<host>"`, so a process turned away can say who
  holds it (from `pg_locks` and `pg_stat_activity`);
- dlt loads Parquet files (written straight from the extract's Arrow tables) through the
  ADBC driver's binary `COPY`, never through its default INSERT statements; dlt's `csv`
  COPY path would load an empty text as null (its `FORCE_NULL`);
- no published copy: readers (feeds, the report, BI tools) read the server.
"""

from __future__ import annotations

import socket
import zlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC
from typing import Any, ClassVar

import dlt
import orjson
import pyarrow as pa
from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.common.destination import TLoaderFileFormat
from dlt.destinations.impl.postgres.configuration import PostgresCredentials

from pipelines.config import ConfigError
from pipelines.destinations.base import Connection, Destination, LockBackend, MissingRelation
from pipelines.redaction import redactor

CREDENTIALS_KEY = "destination.postgres.credentials"
LOCK_KEY = zlib.crc32(b"apptsync run lock") & 0x7FFFFFFF
"""The advisory lock's key: one apptsync writer per database (advisory locks are per
database). Below 2**31, so `pg_locks` shows it as `classid = 0, objid = LOCK_KEY`."""
APPLICATION = "apptsync"
CONNECT_TIMEOUT_SECONDS = 15


def credentials() -> PostgresCredentials:
    """dlt's Postgres credentials, resolved as a pipeline would; a missing or malformed
    setting is one line naming the key."""
    try:
        resolved = resolve_configuration(
            PostgresCredentials(), sections=("destination", "postgres")
        )
    except ConfigFieldMissingException:
        raise ConfigError(
            CREDENTIALS_KEY, "is missing (postgresql://user:password@host:5432/database)"
        ) from None
    except Exception as exc:  # a URL dlt cannot parse
        raise ConfigError(
            CREDENTIALS_KEY, f"is not a Postgres URL ({type(exc).__name__})"
        ) from None
    redactor.add(resolved.password)
    return resolved


def _connect_native(application_name: str = APPLICATION, read_only: bool = False) -> Any:
    import psycopg2

    creds = credentials()
    options = "-c default_transaction_read_only=on" if read_only else None
    try:
        con = psycopg2.connect(
            creds.to_native_representation(),
            application_name=application_name[:63],
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            options=options,
        )
    except psycopg2.OperationalError as exc:
        reason = " ".join(redactor.redact(str(exc)).split())
        raise WarehouseUnreachable(f"cannot connect to {creds}: {reason}") from None
    con.autocommit = True
    return con


class WarehouseUnreachable(ConnectionError):
    """The server refused or did not answer; the message names it, without the password."""


class PostgresConnection(Connection):
    def __init__(self, con: Any) -> None:
        self.con = con

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._cursor(sql, params):
            pass

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._cursor(sql, params) as cursor:
            return list(cursor.fetchall())

    def described(
        self, sql: str, params: Sequence[Any] = ()
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self._cursor(sql, params) as cursor:
            names = [column[0] for column in cursor.description or []]
            return names, list(cursor.fetchall())

    def arrow(self, sql: str) -> pa.Table:
        """Rows to Arrow column by column, typed from the server's column types (so an empty
        result keeps them); JSON values become JSON text, as DuckDB's `to_json` writes."""
        with self._cursor(sql, ()) as cursor:
            description = list(cursor.description or [])
            values = cursor.fetchall()
        columns = list(zip(*values, strict=True)) if values else [() for _ in description]
        arrays = [
            _array(list(column), _ARROW_TYPES.get(item[1]))
            for column, item in zip(columns, description, strict=True)
        ]
        names = _unique([item[0] for item in description])
        return pa.table(dict(zip(names, arrays, strict=True)))

    @contextmanager
    def consistent(self) -> Iterator[None]:
        with self.con.cursor() as cursor:
            cursor.execute("begin transaction isolation level repeatable read read only")
        try:
            yield
        finally:
            with self.con.cursor() as cursor:
                cursor.execute("rollback")

    @contextmanager
    def _cursor(self, sql: str, params: Sequence[Any]) -> Iterator[Any]:
        import psycopg2.errors

        # apptsync's SQL says `?`; psycopg2 wants %s (and a literal % doubled)
        statement = sql.replace("%", "%%").replace("?", "%s")
        with self.con.cursor() as cursor:
            try:
                cursor.execute(statement, tuple(params))
            except (psycopg2.errors.UndefinedTable, psycopg2.errors.InvalidSchemaName) as exc:
                raise MissingRelation(str(exc).strip()) from exc
            yield cursor


_ARROW_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    25: pa.string(),
    1043: pa.string(),
    700: pa.float32(),
    701: pa.float64(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
    114: pa.string(),
    3802: pa.string(),
}
"""Postgres type OIDs (`pg_type`) -> Arrow; others (numeric, arrays) are inferred."""


def _array(values: list[Any], kind: pa.DataType | None) -> pa.Array:
    if any(isinstance(v, dict) for v in values) or kind == pa.string():
        values = [
            v if v is None or isinstance(v, str) else orjson.dumps(v).decode() for v in values
        ]
    if kind is None:
        return pa.array(values) if values else pa.array([], pa.string())
    return pa.array(values, type=kind)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


class AdvisoryLock(LockBackend):
    """The run lock, held by the server for the lock connection's session."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._con: Any = None

    def try_acquire(self, record: dict[str, Any]) -> bool:
        if self._con is None:
            name = f"{APPLICATION} {record['command']} {record['pid']}@{socket.gethostname()}"
            self._con = _connect_native(name)
        with self._con.cursor() as cursor:
            cursor.execute("select pg_try_advisory_lock(%s)", (LOCK_KEY,))
            row = cursor.fetchone()
        return bool(row and row[0])

    def release(self) -> None:
        """Closing the session lets go of its advisory locks."""
        con, self._con = self._con, None
        if con is not None:
            con.close()

    def holder(self, *, turned_away: bool = False) -> dict[str, Any] | None:
        sql = (
            "select a.application_name, a.query_start, a.pid from pg_locks l "
            "join pg_stat_activity a on a.pid = l.pid "
            "where l.locktype = 'advisory' and l.granted and l.classid = 0 and l.objid = %s "
            "and l.objsubid = 1 and l.database = "
            "(select oid from pg_database where datname = current_database())"
        )
        con = _connect_native(f"{APPLICATION} status")
        try:
            with con.cursor() as cursor:
                cursor.execute(sql, (LOCK_KEY,))
                row = cursor.fetchone()
        finally:
            con.close()
        if row is None:
            return {} if turned_away else None
        return _parse_application(str(row[0] or ""), row[1], int(row[2]))


def _parse_application(name: str, started: Any, backend_pid: int) -> dict[str, Any]:
    """`apptsync sync 48211@host` -> command, pid, host (a session of another program that
    took the key is named by its server process)."""
    parts = name.split(" ")
    holder: dict[str, Any] = {"command": "run", "pid": f"server process {backend_pid}"}
    if len(parts) == 3 and parts[0] == APPLICATION and "@" in parts[2]:
        pid, host = parts[2].split("@", 1)
        holder.update(command=parts[1], pid=int(pid) if pid.isdigit() else pid)
        if host != socket.gethostname():
            holder["host"] = host
    if started is not None:
        holder["started_at"] = started.astimezone(UTC).isoformat()
    return holder


class PostgresDestination(Destination):
    name: ClassVar[str] = "postgres"
    loader_file_format: ClassVar[TLoaderFileFormat] = "parquet"
    publishes: ClassVar[bool] = False

    def dlt_destination(self) -> Any:
        # the preferred format, not only `run(loader_file_format=…)`: that reaches a resource's
        # own table, while the child tables it routes rows to take the destination's preference
        return dlt.destinations.postgres(
            credentials=credentials(), preferred_loader_file_format=self.loader_file_format
        )

    def location(self) -> str:
        return str(credentials())

    def identity(self) -> str:
        """Host, port and database: another login into the same database is the same one."""
        resolved = credentials()
        return f"postgresql://{resolved.host}:{resolved.port}/{resolved.database}"

    def exists(self) -> bool:
        """A database is a warehouse once a sync wrote one of apptsync's schemas."""
        from pipelines.ops.ledger import SCHEMA as LEDGER_SCHEMA
        from pipelines.sources import SOURCES

        with self.connect() as con:
            found = con.rows(
                "select count(*) from information_schema.schemata where schema_name = any(?)",
                [[*SOURCES, LEDGER_SCHEMA]],
            )
        return bool(found and found[0][0])

    def hold(self, *, read_only: bool = False) -> AbstractContextManager[Any]:
        return nullcontext(None)

    @contextmanager
    def _connection(self, read_only: bool) -> Iterator[Connection]:
        con = _connect_native(read_only=read_only)
        try:
            yield PostgresConnection(con)
        finally:
            con.close()

    def connect(self, *, read_only: bool = True) -> AbstractContextManager[Connection]:
        return self._connection(read_only)

    def run_lock(self) -> LockBackend:
        return AdvisoryLock(self.location())

    def changed_rows(self, client: Any, sql: str, *args: Any) -> int:
        with client.execute_query(sql, *args) as cursor:
            return max(int(cursor.rowcount), 0)
