"""The sources apptsync syncs, by name: one package each, one line here.

A source package exports `ENTRY` (a `SourceEntry`); this registry is the only place that
lists them, as dlt's `rest_api` keeps its choices in name -> class maps.
"""

from __future__ import annotations

from pipelines.sources.entry import SourceEntry
from pipelines.sources.pexip_engage import ENTRY as PEXIP_ENGAGE
from pipelines.sources.valomnia import ENTRY as VALOMNIA

SOURCES: dict[str, SourceEntry] = {entry.name: entry for entry in (PEXIP_ENGAGE, VALOMNIA)}


def get_source(name: str) -> SourceEntry:
    """The registered source called `name`; a clear error names the known ones."""
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown source '{name}' (known: {', '.join(SOURCES)})") from None


__all__ = ["SOURCES", "SourceEntry", "get_source"]
