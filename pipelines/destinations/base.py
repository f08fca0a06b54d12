"""What apptsync needs from a warehouse destination, in one interface.

Why: dlt loads into many destinations, but apptsync's own work around the load (the run
lock, the run ledger, `status`, `export`, the post-load clean-up, the published copy) has to
know how to reach the warehouse and a few dialect habits. Each destination module
(`duckdb.py`, `postgres.py`) answers those questions once; `pipelines.destinations` keeps
them in a registry by name, as `pipelines.sources` does for the sources, so a third
destination is one module and one line there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar

from dlt.common.destination import TLoaderFileFormat


class MissingRelation(LookupError):
    """A query named a table or schema the warehouse does not have (yet)."""


class Connection(ABC):
    """A plain connection for apptsync's own bookkeeping SQL (ledger, status, export).

    Statements use `?` placeholders whatever the database's driver wants; a missing table
    raises `MissingRelation`, whatever the database calls it."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abstractmethod
    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        names, values = self.described(sql, params)
        return [dict(zip(names, row, strict=True)) for row in values]

    @abstractmethod
    def described(
        self, sql: str, params: Sequence[Any] = ()
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows."""

    @abstractmethod
    def arrow(self, sql: str) -> Any:
        """The rows of `sql` as a `pyarrow.Table` (for export, feeds and the report)."""

    def consistent(self) -> AbstractContextManager[None]:
        """A block whose reads all see one moment of the warehouse (a server's repeatable
        read transaction); a held DuckDB file changes under nobody."""
        return nullcontext()


class LockBackend(ABC):
    """One apptsync writer per warehouse: how the run lock is taken where the warehouse is."""

    key: str
    """Names the lock in messages and keeps re-entrant holds of it apart."""

    @abstractmethod
    def try_acquire(self, record: dict[str, Any]) -> bool:
        """Take the lock without waiting; `record` (pid, command, started_at, run_id) is
        left where a process turned away can read it."""

    @abstractmethod
    def release(self) -> None: ...

    @abstractmethod
    def holder(self, *, turned_away: bool = False) -> dict[str, Any] | None:
        """Who holds the lock now, read without touching it; None when nobody does. Just
        after `try_acquire` failed (`turned_away`), an empty dict when it cannot tell."""


class Destination(ABC):
    """One kind of warehouse apptsync can sync into."""

    name: ClassVar[str]
    """The value of `apptsync.destination`, and dlt's own name of the destination."""
    loader_file_format: ClassVar[TLoaderFileFormat]
    """The file format dlt loads with: the destination's fast bulk path from Arrow."""
    publishes: ClassVar[bool] = False
    """Whether `publish` makes a reader's copy (a DuckDB file); a server serves readers."""

    @abstractmethod
    def dlt_destination(self) -> Any:
        """The dlt destination factory, with apptsync's credentials."""

    @abstractmethod
    def location(self) -> str:
        """Where the warehouse is, for messages and `status`: never with a password."""

    def identity(self) -> str:
        """Which warehouse this is, stable across credential changes and free of secrets:
        what a dlt working folder records as the warehouse its state belongs to."""
        return self.location().split("?", 1)[0]

    @abstractmethod
    def exists(self) -> bool:
        """Whether a sync has created the warehouse (readers never create one)."""

    def duckdb_file(self) -> str | None:
        """The DuckDB file that export, feeds and the report may open themselves; None for a
        server, whose relations they copy into an in-memory DuckDB first."""
        return None

    @abstractmethod
    def hold(self, *, read_only: bool = False) -> AbstractContextManager[Any]:
        """Hold the warehouse for a whole command (DuckDB's one-writer file); a server
        needs no hold and yields None."""

    @abstractmethod
    def connect(self, *, read_only: bool = True) -> AbstractContextManager[Connection]:
        """A connection for apptsync's bookkeeping SQL, closed after the block."""

    @abstractmethod
    def run_lock(self) -> LockBackend:
        """The run lock of this warehouse."""

    @abstractmethod
    def changed_rows(self, client: Any, sql: str, *args: Any) -> int:
        """Run an update or delete through a dlt SQL client; the number of rows it changed
        (DuckDB answers with a row, Postgres through the cursor's rowcount)."""

    def describe_missing(self) -> str:
        return f"no warehouse at {self.location()} — run `apptsync sync` first"
