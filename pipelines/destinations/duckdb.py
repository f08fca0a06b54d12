"""DuckDB: one warehouse file on this machine (or MotherDuck through an `md:` path).

The file's path comes from dlt's own `destination.duckdb.credentials`
(`pipelines.warehouse.database_path`); a command holds one connection for its whole run
(`pipelines.connection.hold_warehouse`), the run lock is a file beside the warehouse, and
readers get the published copy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, ClassVar

import dlt
import duckdb
from dlt.common.destination import TLoaderFileFormat

from pipelines.destinations.base import Connection, Destination, LockBackend, MissingRelation
from pipelines.destinations.file_lock import FileLock


class DuckDbConnection(Connection):
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._run(sql, params)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._run(sql, params).fetchall()

    def described(
        self, sql: str, params: Sequence[Any] = ()
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self._run(sql, params)
        names = [column[0] for column in cursor.description or []]
        return names, cursor.fetchall()

    def arrow(self, sql: str) -> Any:
        return self._run(sql, ()).to_arrow_table()

    def _run(self, sql: str, params: Sequence[Any]) -> duckdb.DuckDBPyConnection:
        try:
            return self.con.execute(sql, list(params))
        except duckdb.CatalogException as exc:
            raise MissingRelation(str(exc)) from exc


class DuckDbDestination(Destination):
    name: ClassVar[str] = "duckdb"
    loader_file_format: ClassVar[TLoaderFileFormat] = "parquet"
    publishes: ClassVar[bool] = True

    def dlt_destination(self) -> Any:
        from pipelines.warehouse import warehouse_credentials

        return dlt.destinations.duckdb(credentials=warehouse_credentials())

    def location(self) -> str:
        from pipelines.warehouse import database_path

        return database_path()

    def duckdb_file(self) -> str | None:
        return self.location()

    def exists(self) -> bool:
        path = self.location()
        return ":" in path or Path(path).exists()

    def hold(self, *, read_only: bool = False) -> AbstractContextManager[Any]:
        from pipelines.connection import hold_warehouse

        return hold_warehouse(read_only=read_only)

    def connect(self, *, read_only: bool = True) -> AbstractContextManager[Connection]:
        return _connect(self.location(), read_only)

    def connect_path(
        self, path: str, *, read_only: bool = True
    ) -> AbstractContextManager[Connection]:
        """A connection to another DuckDB file than the configured one."""
        return _connect(path, read_only)

    def run_lock(self) -> LockBackend:
        from pipelines.warehouse import lock_path

        return FileLock(lock_path())

    def changed_rows(self, client: Any, sql: str, *args: Any) -> int:
        """DuckDB answers a delete or an update with one row: the number of rows it changed."""
        result = client.execute_sql(sql, *args)
        return int(result[0][0]) if result else 0


@contextmanager
def _connect(path: str, read_only: bool) -> Iterator[Connection]:
    """Read-only unless asked, or unless this process already has the file open for
    writing (DuckDB refuses a second mode; the same configuration shares the instance)."""
    if read_only:
        try:
            con = duckdb.connect(path, read_only=True)
        except duckdb.ConnectionException:
            con = duckdb.connect(path)
    else:
        con = duckdb.connect(path)
    with con:
        yield DuckDbConnection(con)
