"""The relations a model or audit may read besides other models: the declared raw tables.

Why declare them: before, a raw table the runner could not find became an empty placeholder,
so a typo (`pexip_engage.appointmnets`) built an empty view and every report over it showed
zeros. As jaffle-shop's `__sources.yml` does, the tables are declared, and reading anything
else fails naming the file and the close matches. A declared table that has not landed yet
(a source never synced) still reads as no rows, so every view builds on an empty warehouse.

The sources' tables are not written here: each `SourceEntry` in the registry lists what its
sync lands (`SourceEntry.raw_tables`, in the dataset named after the source). Only the tables
apptsync itself writes, outside any source, are listed in `DECLARED_TABLES`.
"""

from __future__ import annotations

from pipelines.sources import SOURCES

DECLARED_TABLES: dict[str, str] = {
    "ops.sync_runs": "the run ledger: one row per source per sync run, written by the sync",
}
"""apptsync's own tables (`schema.name` -> what writes it) that the models may read."""


def declared_tables() -> frozenset[str]:
    """Every declared raw table, as `schema.name` (lower case)."""
    from_sources = (
        f"{entry.name}.{table}" for entry in SOURCES.values() for table in entry.raw_tables
    )
    return frozenset(name.lower() for name in (*from_sources, *DECLARED_TABLES))
