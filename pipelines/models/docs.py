"""Column documentation, read from the pages analysts read: `docs/<schema>.md`.

Why the docs page and not the SQL files: each column is described once, where analysts look
(docs/reporting.md, column by column with its type and lineage), and `tests/test_docs_reporting.py`
already holds that page to the views. The build copies the same text into the warehouse as
column comments, so BI tools (Metabase, DBeaver, DuckDB's `duckdb_columns()`) show it too.

A page documents a model in a section headed `## <schema>.<model>` holding a Markdown table
whose header has a `column` and a `meaning` cell; other sections and tables are prose to us.
"""

from __future__ import annotations

import re
from pathlib import Path

_SECTION = re.compile(r"^## (?P<schema>[a-z_][a-z0-9_]*)\.(?P<model>[a-z_][a-z0-9_]*)\s*$")
_CODE = re.compile(r"`([^`]*)`")


def column_docs(docs_dir: Path) -> dict[str, dict[str, str]]:
    """`schema.model` -> {column: meaning} for every model section of `docs_dir/*.md`
    (none when the folder does not exist, as for a SQL folder outside the checkout)."""
    found: dict[str, dict[str, str]] = {}
    if not docs_dir.is_dir():
        return found
    for page in sorted(docs_dir.glob("*.md")):
        for model, columns in page_columns(page.read_text(encoding="utf-8")).items():
            found.setdefault(model, {}).update(columns)
    return found


def page_columns(text: str) -> dict[str, dict[str, str]]:
    """`schema.model` -> {column: meaning} of one page, in the order documented."""
    found: dict[str, dict[str, str]] = {}
    model: str | None = None
    header: list[str] | None = None
    for line in text.splitlines():
        section = _SECTION.match(line)
        if section:
            model, header = f"{section['schema']}.{section['model']}", None
        elif line.startswith("## "):
            model, header = None, None
        elif model and line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if header is None:
                header = [cell.lower() for cell in cells]
            elif not set(line) <= set("|-: ") and {"column", "meaning"} <= set(header):
                row = dict(zip(header, cells, strict=False))
                found.setdefault(model, {})[row["column"]] = comment_text(row["meaning"])
        else:
            header = None  # a table ends at the first line that is not a row
    return found


def comment_text(cell: str) -> str:
    """A Markdown cell as plain text for a column comment: code spans lose their backticks."""
    return " ".join(_CODE.sub(r"\1", cell).split())
