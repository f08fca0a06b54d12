"""The models' way into the warehouse: a dlt SQL client without a pipeline, and the
database's own message out of dlt's wrapped errors.

Why: `apptsync models` and `apptsync check` run without a source, and must not leave
pipeline state behind; everything else in the runner only sees a `SqlClientBase`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dlt
from dlt.destinations.sql_client import SqlClientBase

MODELS_DATASET = "reporting"
"""Default dataset of the SQL client that builds the models (every reference is qualified)."""


@contextmanager
def open_sql_client(
    credentials: Any = None,
    destination: Any = None,
    dataset_name: str = MODELS_DATASET,
) -> Iterator[SqlClientBase[Any]]:
    """Open a dlt SQL client on the warehouse, without a source or a pipeline run.

    By default the destination is DuckDB and its credentials come from dlt's configuration
    (`destination.duckdb.credentials` in `.dlt/*.toml`, or `DESTINATION__DUCKDB__CREDENTIALS`),
    falling back to `apptsync.duckdb` in the working directory; `credentials` overrides both.
    Pass `destination` (any dlt destination reference) to use another warehouse.

    The client comes from `dlt.dataset(...)` with an ad hoc schema: it resolves the
    destination's configuration like a pipeline does, but leaves no pipeline state behind.
    """
    if destination is None:
        if credentials is None:
            from pipelines.warehouse import database_path

            credentials = database_path()
        destination = dlt.destinations.duckdb(credentials=credentials)
    dataset = dlt.dataset(destination, dataset_name, schema=dlt.Schema("apptsync_models"))
    with dataset.sql_client as client:
        yield client


def database_message(ex: BaseException) -> str:
    """The database's own message, without dlt's wrapper class."""
    inner = getattr(ex, "dbapi_exception", None) or ex
    return str(inner).strip()
