"""The warehouses apptsync syncs into, by name: one module each, one line here.

`apptsync.destination` (environment `APPTSYNC__DESTINATION`, or `--destination`) picks
one; the default is a DuckDB file. A destination module exports a `Destination`
(`pipelines.destinations.base`); this registry is the only place that lists them.
"""

from __future__ import annotations

from typing import Any

import dlt

from pipelines.config import require_choice
from pipelines.destinations.base import Connection, Destination, MissingRelation
from pipelines.destinations.duckdb import DuckDbDestination
from pipelines.destinations.postgres import PostgresDestination

DESTINATION_KEY = "apptsync.destination"
DEFAULT_DESTINATION = "duckdb"

DESTINATIONS: dict[str, Destination] = {
    entry.name: entry for entry in (DuckDbDestination(), PostgresDestination())
}


def configured_destination() -> Destination:
    """The destination `apptsync.destination` names; an unknown name is one line naming
    the key and the choices (exit 2)."""
    configured: Any = dlt.config.get(DESTINATION_KEY)
    name = str(configured).strip().lower() if configured else DEFAULT_DESTINATION
    return DESTINATIONS[require_choice(DESTINATION_KEY, name, DESTINATIONS)]


__all__ = [
    "DESTINATIONS",
    "DESTINATION_KEY",
    "Connection",
    "Destination",
    "MissingRelation",
    "configured_destination",
]
