"""Build the SQL models in `sql/` as views, and run the audits in `sql/audits/`.

Every `sql/<schema>/<name>.sql` holds one `select` written in DuckDB's dialect and becomes the
view `<schema>.<name>`. The runner reads each model's table references with sqlglot, so the
build order follows from the SQL itself: no numbered file names, no hand-kept lists.

The runner talks to the warehouse only through a dlt SQL client and sends each model through
sqlglot transpilation into the client's dialect, so the same files build on DuckDB and on
Postgres (tested on both); another dlt destination needs no change to the models.

Raw tables are written by the syncs, and declared (`sources.declared_tables()`: each source's
tables from the registry, and apptsync's own in `DECLARED_TABLES`); a model or audit reading
anything else fails, naming the file and the close matches. A warehouse that has not synced a
source yet has none of its tables; a model reading such a declared table reads an empty
relation instead (every column the model uses, as a null `varchar`), so all views build on an
empty warehouse. Staging casts every column explicitly, so the views stay typed. The CLI
rebuilds the views after each sync, which replaces those placeholders with the real tables.

The parts, one job each: `discovery` (files -> models and audits, build order), `sources` (the
declared raw tables), `docs` (the column documentation of `docs/`), `selection` (dbt's
selectors), `resolve` (references and placeholders, the destination's dialect), `build` (the
views and their comments, in one transaction), `catalog` (how each engine replaces a view and
finds the views reading it), `registry` (the views apptsync built, `ops.model_views`), `audits`
(run and report, with severities), `listing` (`apptsync ls`), `warehouse` (the client).
"""

from __future__ import annotations

from pipelines.models.audits import AuditResult, any_failed, format_audit_report, run_audits
from pipelines.models.build import build_models
from pipelines.models.discovery import (
    SQL_DIR,
    Audit,
    Model,
    ModelError,
    discover,
    discover_audits,
)
from pipelines.models.selection import Selection, SelectionError, select, select_models
from pipelines.models.sources import DECLARED_TABLES, declared_tables
from pipelines.models.warehouse import WarehouseError, open_sql_client

__all__ = [
    "DECLARED_TABLES",
    "SQL_DIR",
    "WarehouseError",
    "Audit",
    "AuditResult",
    "Model",
    "ModelError",
    "any_failed",
    "build_models",
    "declared_tables",
    "discover",
    "discover_audits",
    "format_audit_report",
    "open_sql_client",
    "run_audits",
    "select",
    "select_models",
    "Selection",
    "SelectionError",
]
