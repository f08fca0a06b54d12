"""`apptsync ls`: the models and audits a selection picks, with what each reads, as dbt's `ls`.

Why a listing apart from the build: it needs no warehouse, so an engineer can check what
`--select +rpt_lead_time` will build (or a script can read the lineage as JSON) anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from pipelines.models.discovery import LAYERS, Audit, Model, relative
from pipelines.models.selection import Selection

RESOURCE_TYPES = ("model", "audit")
OUTPUTS = ("text", "json")


def describe(selection: Selection, sql_dir: Path) -> list[dict[str, Any]]:
    """One JSON-ready record per selected model (in build order), then per selected audit."""
    return [_model(model, sql_dir) for model in selection.models] + [
        _audit(audit, sql_dir) for audit in selection.audits
    ]


def _model(model: Model, sql_dir: Path) -> dict[str, Any]:
    return {
        "resource_type": "model",
        "name": model.qualified_name,
        "schema": model.schema,
        "layer": model.schema if model.schema in LAYERS else None,
        "path": relative(model.path, sql_dir),
        "depends_on": {"models": list(model.depends_on), "raw_tables": list(model.sources)},
        "description": model.description,
        "columns": dict(model.column_docs),
    }


def _audit(audit: Audit, sql_dir: Path) -> dict[str, Any]:
    return {
        "resource_type": "audit",
        "name": audit.name,
        "severity": audit.severity,
        "path": relative(audit.path, sql_dir),
        "depends_on": {"models": list(audit.depends_on), "raw_tables": list(audit.sources)},
        "description": audit.description,
    }


def render(records: Sequence[dict[str, Any]], output: str) -> str:
    """`json`: one object per line (as `dbt ls --output json`); `text`: a table per kind."""
    if output == "json":
        return "\n".join(orjson.dumps(record).decode() for record in records)
    tables: list[str] = []
    for kind, second in (("model", "layer"), ("audit", "severity")):
        rows = [
            (r["name"], str(r["schema"] if kind == "model" else r["severity"]), _reads(r))
            for r in records
            if r["resource_type"] == kind
        ]
        if rows:
            tables.append(_table((kind, second, "depends on"), rows))
    return "\n\n".join(tables)


def _reads(record: dict[str, Any]) -> str:
    depends = record["depends_on"]
    reads = [*depends["models"], *(f"{name} (raw)" for name in depends["raw_tables"])]
    return ", ".join(reads) or "-"


def _table(header: tuple[str, str, str], rows: Sequence[tuple[str, str, str]]) -> str:
    first = max(len(header[0]), *(len(row[0]) for row in rows))
    second = max(len(header[1]), *(len(row[1]) for row in rows))
    return "\n".join(f"{a:<{first}}  {b:<{second}}  {c}" for a, b, c in [header, *rows])
