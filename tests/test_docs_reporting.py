"""docs/reporting.md documents every reporting model and column, and the status vocabulary,
exactly as the models build them."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from pipelines.models import SQL_DIR, build_models, open_sql_client

DOC = Path(__file__).resolve().parents[1] / "docs" / "reporting.md"
SECTION = re.compile(r"^## reporting\.(\w+)\s*$", re.MULTILINE)
ROW = re.compile(r"^\| *([a-z_0-9]+) *\| *([^|]+?) *\|", re.MULTILINE)
MAPPING = re.compile(r"\('(\w+)', '(\w+)', '(\w+)'\)")
VOCABULARY_ROW = re.compile(r"^\| (\w+) \| `(\w+)`[^|]*\| (\w+) \|", re.MULTILINE)


def documented_columns() -> dict[str, list[tuple[str, str]]]:
    """model -> [(column, type)] from each `## reporting.<model>` section's table."""
    text = DOC.read_text(encoding="utf-8")
    starts = list(SECTION.finditer(text))
    sections = {}
    for here, after in zip(starts, [*starts[1:], None], strict=True):
        body = text[here.end() : after.start() if after else len(text)]
        rows = [(m[1], m[2]) for m in ROW.finditer(body) if m[1] != "column"]
        sections[here[1]] = rows
    return sections


def built_columns(tmp_path: Path) -> dict[str, list[tuple[str, str]]]:
    """model -> [(column, type)] of the views the models build (on an empty warehouse)."""
    database = tmp_path / "empty.duckdb"
    with open_sql_client(credentials=str(database)) as client:
        build_models(client)
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = 'reporting' order by table_name, ordinal_position"
        ).fetchall()
    views: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        views.setdefault(table, []).append((column, _type(data_type)))
    return views


def _type(name: str) -> str:
    return name.lower().replace("timestamp with time zone", "timestamptz")


def test_every_reporting_model_and_column_is_documented_with_its_type(tmp_path: Path):
    documented = documented_columns()
    built = built_columns(tmp_path)

    assert sorted(built) == sorted(path.stem for path in (SQL_DIR / "reporting").glob("*.sql"))
    missing = sorted(set(built) - set(documented))
    stale = sorted(set(documented) - set(built))
    assert not missing, f"docs/reporting.md has no section for {missing}"
    assert not stale, f"docs/reporting.md documents models that do not exist: {stale}"
    for model, columns in built.items():
        assert documented[model] == columns, f"reporting.{model}: columns or types differ"


def test_status_vocabulary_in_the_docs_is_the_mapping_the_model_uses():
    sql = (SQL_DIR / "reporting" / "fct_appointments.sql").read_text(encoding="utf-8")
    body = sql.split("status_mapping as", 1)[1]
    mapping = sorted(MAPPING.findall(body))
    vocabulary = DOC.read_text(encoding="utf-8").split("## The status vocabulary", 1)[1]
    vocabulary = vocabulary.split("\n## ", 1)[0]

    assert len(mapping) == 9
    assert sorted(VOCABULARY_ROW.findall(vocabulary)) == mapping
