"""What a source package tells the rest of apptsync about itself, in one object.

Why: the sync, `status`, the command line, the demo and the tests all need to know a
source's name, how to build it, its cursor and tables, and how to point it at the bundled
simulator. Each source package exports one `SourceEntry` (`ENTRY`); `pipelines.sources`
collects them in `SOURCES`, and nothing else spells a source's name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.extract.source import DltSource

from pipelines.extract.flatten import QUARANTINE_TABLE
from pipelines.extract.resource import PARENT_TABLE, SCAN_TABLE, ResourceSpec

_NAMING = NamingConvention()


@dataclass(frozen=True)
class SourceEntry:
    """One source: its dlt source function, its tables and what a run may ask of it."""

    name: str
    """The dlt source, pipeline and dataset name, and the config section `sources.<name>`."""
    factory: Callable[..., DltSource]
    """The `@dlt.source` function; dlt injects its settings from `sources.<name>`."""
    spec: ResourceSpec
    """The record schema, the raw tables and their columns."""
    simulator_settings: Callable[[Any], Mapping[str, str]]
    """Settings (key under `sources.<name>` -> value) that point it at a running Simulator."""
    run_options: frozenset[str] = field(default_factory=frozenset)
    """Keyword options a run may pass to the factory, e.g. `reconcile`."""
    after_load: Callable[[Any, str], int] | None = None
    """Called as `after_load(pipeline, name)` once a load is committed and `finish_load`
    ran (e.g. to rotate the webhook spool); returns appointments it marked deleted."""
    receives_webhooks: bool = False
    """`apptsync webhooks serve` can receive this source's deliveries."""

    @property
    def config_section(self) -> str:
        return f"sources.{self.name}"

    @property
    def cursor_field(self) -> str:
        """The API field the incremental cursor follows (`updatedAt`)."""
        return self.spec.schema.cursor_field

    @property
    def config_keys(self) -> list[str]:
        """The keys dlt reads under `sources.<name>`: the source function's parameters, and
        the sections it also looks in (`sources.<name>.<name>`, `sources.<name>.appointments`)."""
        return [*inspect.signature(self.factory).parameters, self.name, PARENT_TABLE]

    @property
    def id_column(self) -> str:
        """The warehouse column of the parent's id, as dlt names it (`id`)."""
        return str(_NAMING.normalize_identifier(self.spec.schema.id_field))

    @property
    def cursor_column(self) -> str:
        """The warehouse column of the cursor, as dlt names it (`updated_at`)."""
        return str(_NAMING.normalize_identifier(self.cursor_field))

    @property
    def child_tables(self) -> list[str]:
        return list(self.spec.child_columns)

    @property
    def raw_tables(self) -> list[str]:
        """Every table a sync lands in the dataset `name`: the flattened parent and child
        tables, then the quarantine and the scan ids. The models may read only these."""
        return [*(table.name for table in self.spec.tables), QUARANTINE_TABLE, SCAN_TABLE]

    def build(self, **options: Any) -> DltSource:
        """The configured source; options it does not support are refused, not ignored."""
        unknown = sorted(set(options) - self.run_options)
        if unknown:
            raise ValueError(f"source '{self.name}' has no option {', '.join(unknown)}")
        return self.factory(**options)
