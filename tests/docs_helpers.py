"""Readers for what the docs promise: the raw tables of docs/raw-tables.md, the README's
settings table and the keys of .dlt/config.toml, in forms a test can compare with the code."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot.optimizer.qualify import qualify

ROOT = Path(__file__).resolve().parent.parent
ALL_SOURCES = "<source>"  # a README row that holds for every source
REQUIRED = "required"  # a README default: no default, the user must set it

_ROW = re.compile(r"^\| (\w+) \| (\w+) \| (.*) \|$")


def documented_tables(text: str) -> dict[tuple[str, str], list[tuple[str, str, str]]]:
    """(dataset, table) -> [(column, type, from)] of docs/raw-tables.md; dataset `*` for the
    tables of both datasets."""
    tables: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    dataset, table, paragraph = "", "", ""
    previous = ""
    for line in text.splitlines():
        if not previous.strip() and not line.startswith("|"):
            paragraph = line  # a table is named by the paragraph before it: "`name` (...)"
        previous = line
        if heading := re.match(r"## Dataset \(DuckDB schema\) `(\w+)`", line):
            dataset = heading.group(1)
        elif line.startswith("## Both datasets"):
            dataset = "*"
        elif row := _ROW.match(line):
            if row.group(1) == "column":
                intro = re.match(r"^`(\w+)`", paragraph)
                table = intro.group(1) if intro else ""
            else:
                tables.setdefault((dataset, table), []).append(row.groups())  # type: ignore[arg-type]
    return tables


def first_code(text: str) -> str | None:
    """The first `code` span of a cell (the API path of a column)."""
    found = re.search(r"`([^`]+)`", text)
    return found.group(1) if found else None


def unresolved_columns(sql: str, raw: dict[str, dict[str, dict[str, str]]]) -> str | None:
    """Why sqlglot cannot resolve every column of `sql` against the raw tables, or None."""
    schema: dict[str, object] = dict(raw)
    try:
        qualify(
            sqlglot.parse_one(sql, dialect="duckdb"),
            schema=schema,
            dialect="duckdb",
            validate_qualify_columns=True,
        )
    except sqlglot.errors.OptimizeError as error:
        return str(error)
    return None


@dataclass(frozen=True)
class DocumentedSetting:
    """One key of the README's settings table."""

    source: str  # a source's name, or ALL_SOURCES
    name: str
    env: str | None  # the environment variable the row names for it (only the first key)
    default: Any  # REQUIRED, None, a string, a bool or a number
    secret: bool


def readme_settings(text: str) -> list[DocumentedSetting]:
    """The `sources.*` rows of the README's settings table, one entry per key."""
    settings = []
    for line in text.splitlines():
        if not line.startswith("| `sources."):
            continue
        key_cell, env_cell, default_cell, _meaning = (c.strip() for c in line.strip("|").split("|"))
        keys = re.findall(r"`([^`]+)`", key_cell)
        source, first = keys[0].removeprefix("sources.").split(".", 1)
        names = [first, *keys[1:]]
        parts = [p.strip() for p in default_cell.split(", ")]
        defaults = (
            parts if len(names) > 1 and len(parts) == len(names) else [default_cell] * len(names)
        )
        envs = [first_code(env_cell)] + [None] * (len(names) - 1)
        for name, default, env in zip(names, defaults, envs, strict=True):
            settings.append(
                DocumentedSetting(
                    source, name, env, _readme_default(default), "secret" in default_cell
                )
            )
    return settings


def _readme_default(cell: str) -> Any:
    if cell.startswith("—"):
        return REQUIRED
    if cell.startswith("none"):
        return None
    if code := re.fullmatch(r"`([^`]*)`", cell):
        return code.group(1)
    if cell in ("true", "false"):
        return cell == "true"
    return float(cell)


def toml_keys(path: Path, section: str) -> tuple[dict[str, Any], set[str]]:
    """The keys set under `[section]` of a toml file, and those only shown commented out
    (`# key = ...` or `# [section.key]`)."""
    text = path.read_text()
    active: Any = tomllib.loads(text)
    for part in section.split("."):
        active = active.get(part, {})
    commented: set[str] = set()
    current, in_commented_table = "", False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            in_commented_table = False
        elif header := re.fullmatch(r"\[([\w.-]+)\]", line.split("#")[0].strip()):
            current, in_commented_table = header.group(1), False
        elif table := re.match(r"#\s*\[([\w.-]+)\]", line):
            if current == section and table.group(1).startswith(section + "."):
                commented.add(table.group(1).removeprefix(section + "."))
                in_commented_table = True
        elif key := re.match(r"#\s*([\w-]+)\s*=", line):
            commented |= {key.group(1)} if current == section and not in_commented_table else set()
    return dict(active), commented
