"""Where a DuckDB warehouse's files are: the working warehouse, the published copy, the lock.

Why one module: the sync, the models, `status`, `publish`, the feeds and the lock all
must agree on these paths, and each is derived from dlt's own
`destination.duckdb.credentials` and the `apptsync.*` settings in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

from pipelines.config import require_seconds

DEFAULT_DATABASE = "apptsync.duckdb"
DUCKDB_MEMORY_LIMIT = "256MB"  # enough for the merges; see bench/README.md
PUBLISHED_SUFFIX = ".published.duckdb"
LOCK_SUFFIX = ".lock"
DEFAULT_LOCK_WAIT_SECONDS = 60.0


def database_path() -> str:
    """The DuckDB file from dlt's own `destination.duckdb.credentials` (default apptsync.duckdb),
    made absolute against the current folder: dlt would resolve a relative path against the
    folder the pipeline first ran in, and a second checkout would write into the first's."""
    configured = str(dlt.config.get("destination.duckdb.credentials") or DEFAULT_DATABASE)
    if ":" in configured and not Path(configured).anchor:  # :memory:, md:…, a URL
        return configured
    return str(Path(configured).resolve())


def warehouse_credentials() -> DuckDbCredentials:
    """The DuckDB file, with a memory cap unless one is configured: DuckDB otherwise keeps
    up to 80% of RAM for a merge, and the sync's memory would grow with the warehouse.
    While the command holds the warehouse (`pipelines.connection.hold_warehouse`), the
    credentials wrap that one connection instead of opening the file again."""
    from pipelines.connection import held_connection

    held = held_connection()
    if held is not None:
        return DuckDbCredentials(held)
    credentials = DuckDbCredentials(database_path())
    credentials.global_config = duckdb_config()
    return credentials


def duckdb_config() -> dict[str, Any]:
    """DuckDB settings of a read-write connection to the warehouse (see warehouse_credentials)."""
    configured: Any = dlt.config.get("destination.duckdb.credentials.global_config") or {}
    return {"memory_limit": DUCKDB_MEMORY_LIMIT, **dict(configured)}


def publish_path() -> str:
    """The checkpointed copy readers open (`apptsync.publish_path`, environment
    `APPTSYNC__PUBLISH_PATH`); by default beside the warehouse: `apptsync.published.duckdb`."""
    configured: Any = dlt.config.get("apptsync.publish_path")
    if configured:
        return str(Path(str(configured)).resolve())
    working = Path(database_path())
    return str(working.with_name(working.name.removesuffix(".duckdb") + PUBLISHED_SUFFIX))


def lock_path() -> str:
    """The run lock beside the warehouse: one apptsync writer at a time."""
    return database_path() + LOCK_SUFFIX


def lock_wait_seconds() -> float:
    """How long a run waits for another process to let go of the working warehouse
    (`apptsync.lock_wait_seconds`, environment `APPTSYNC__LOCK_WAIT_SECONDS`)."""
    configured: Any = dlt.config.get("apptsync.lock_wait_seconds")
    if configured is None:
        return DEFAULT_LOCK_WAIT_SECONDS
    return require_seconds("apptsync.lock_wait_seconds", configured)


class WarehouseMissing(FileNotFoundError):
    """A command that reads the warehouse found none: it never creates one."""


def require_warehouse() -> str:
    """Where the configured warehouse is; it must exist: only `sync` (and the demo) create
    it, so a command run from the wrong folder (or against the wrong database) says so
    instead of reading a new, empty one."""
    from pipelines.destinations import configured_destination

    destination = configured_destination()
    if not destination.exists():
        raise WarehouseMissing(destination.describe_missing())
    return destination.location()
