"""The models' way into the warehouse: a dlt SQL client without a pipeline, and the
database's own message out of dlt's wrapped errors.

Why: `apptsync models` and `apptsync check` run without a source, and must not leave
pipeline state behind; everything else in the runner only sees a `SqlClientBase`. A warehouse
that cannot be opened (most often: another process holds DuckDB's lock on the file) is one
line naming the file and the process, not dlt's paragraph about credentials and the internet.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dlt
from dlt.destinations.exceptions import DestinationConnectionError
from dlt.destinations.sql_client import SqlClientBase

MODELS_DATASET = "reporting"
"""Default dataset of the SQL client that builds the models (every reference is qualified)."""

_DUCKDB_LOCK = re.compile(
    r'Could not set lock on file "(?P<path>[^"]+)": Conflicting lock is held in'
    r" (?P<program>.+?) \(PID (?P<pid>\d+)\)"
)
"""DuckDB's message when another process has the file open for writing."""


class WarehouseError(Exception):
    """The warehouse cannot be opened; the one-line message says which and why."""


@contextmanager
def open_sql_client(
    credentials: Any = None,
    destination: Any = None,
    dataset_name: str = MODELS_DATASET,
) -> Iterator[SqlClientBase[Any]]:
    """Open a dlt SQL client on the warehouse, without a source or a pipeline run.

    By default the destination is the configured one (`apptsync.destination`, see
    `pipelines.destinations`) with dlt's own credentials for it; `credentials` names a DuckDB
    warehouse instead, and `destination` (any dlt destination reference) another warehouse.

    The client comes from `dlt.dataset(...)` with an ad hoc schema: it resolves the
    destination's configuration like a pipeline does, but leaves no pipeline state behind.
    """
    if destination is None and credentials is None:
        from pipelines.destinations import configured_destination

        # the configured warehouse (a DuckDB file's held connection, inside a command)
        destination = configured_destination().dlt_destination()
    elif destination is None:
        destination = dlt.destinations.duckdb(credentials=credentials)
    dataset = dlt.dataset(destination, dataset_name, schema=dlt.Schema("apptsync_models"))
    opened = False
    try:
        with dataset.sql_client as client:
            opened = True
            yield client
    except DestinationConnectionError as ex:
        if opened:  # not the opening: the caller's own error, passed on as it is
            raise
        raise WarehouseError(connection_message(ex)) from ex


def connection_message(ex: DestinationConnectionError) -> str:
    """One line for a warehouse that would not open: who holds a DuckDB file's lock, or else
    the database's own reason (dlt's wrapper adds only advice about credentials)."""
    reason = database_message(ex.inner_exc)
    locked = _DUCKDB_LOCK.search(reason)
    if locked:
        return (
            f"the warehouse {locked['path']} is locked by PID {locked['pid']}"
            f" ({locked['program']}): another apptsync run or DuckDB session has it open;"
            " try again when it has finished"
        )
    return f"cannot open the warehouse ({ex.client_type}): " + " ".join(reason.split())


def database_message(ex: BaseException) -> str:
    """The database's own message on one line, without dlt's wrapper class. The `LINE n:`
    pointer (DuckDB's and Postgres's) is left out: it points into the generated statement, not
    into the model's file; Postgres's `HINT:` is kept."""
    inner = getattr(ex, "dbapi_exception", None) or ex
    text = str(inner)
    hint = ""
    if "\nLINE " in text:
        text, pointer = text.split("\nLINE ", 1)
        hint = pointer[pointer.index("HINT:") :] if "HINT:" in pointer else ""
    return " ".join(f"{text} {hint}".split())
