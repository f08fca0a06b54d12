"""The docs say what the code does: the raw tables of docs/raw-tables.md are the declared
column lists, the staging models read only declared columns, and every setting of each
source's signature is in the README's table and .dlt/config.toml with the same default."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pytest

from pipelines.config import env_name
from pipelines.extract.columns import PLACEHOLDER, POSITION, Table
from pipelines.extract.flatten import QUARANTINE_SCHEMA, QUARANTINE_TABLE
from pipelines.sources import SOURCES, SourceEntry
from tests.docs_helpers import (
    ALL_SOURCES,
    REQUIRED,
    ROOT,
    DocumentedSetting,
    documented_tables,
    first_code,
    readme_settings,
    toml_keys,
    unresolved_columns,
)
from tests.model_fixtures import RAW_TABLES

RAW_DOC = documented_tables((ROOT / "docs" / "raw-tables.md").read_text())
DECLARED = [(name, table) for name, entry in SOURCES.items() for table in entry.spec.tables]
STAGING = sorted((ROOT / "sql" / "staging").glob("*.sql"))


@pytest.mark.parametrize(("source", "table"), DECLARED, ids=lambda v: getattr(v, "name", v))
def test_raw_tables_doc_lists_the_declared_columns_types_and_order(source: str, table: Table):
    documented = RAW_DOC.get((source, table.name), [])
    assert [(c, t) for c, t, _ in documented] == [(c.name, c.type) for c in table.columns]


@pytest.mark.parametrize(("source", "table"), DECLARED, ids=lambda v: getattr(v, "name", v))
def test_raw_tables_doc_names_the_api_path_of_each_column(source: str, table: Table):
    for column, (_, _, origin) in zip(table.columns, RAW_DOC[(source, table.name)], strict=True):
        if column.role == POSITION:
            assert origin == f"position in `{table.rows}`", column.name
        elif column.role != PLACEHOLDER:
            assert first_code(origin) == column.path, column.name


def test_raw_tables_doc_describes_no_table_the_sources_do_not_land():
    declared = {(source, table.name) for source, table in DECLARED}
    assert set(RAW_DOC) - declared == {("*", QUARANTINE_TABLE)}


def test_quarantine_doc_matches_its_arrow_schema():
    types = {pa.string(): "varchar", pa.timestamp("us", tz="UTC"): "timestamptz"}
    documented = [(c, t) for c, t, _ in RAW_DOC[("*", QUARANTINE_TABLE)]]
    assert documented == [(f.name, types[f.type]) for f in QUARANTINE_SCHEMA]


def _raw_schema() -> dict[str, dict[str, dict[str, str]]]:
    raw: dict[str, dict[str, dict[str, str]]] = {}
    for (dataset, table), columns in RAW_TABLES.items():
        raw.setdefault(dataset, {})[table] = {**dict(columns), "_dlt_load_id": "varchar"}
    # apptsync's own run ledger, written by pipelines/ops/ledger.py (no dlt columns)
    from pipelines.ops.ledger import COLUMN_TYPES, SCHEMA, TABLE

    raw[SCHEMA] = {
        TABLE: {name: kind.removesuffix(" not null") for name, kind in COLUMN_TYPES.items()}
    }
    return raw


@pytest.mark.parametrize("model", STAGING, ids=lambda p: p.stem)
def test_staging_models_read_only_declared_raw_columns(model: Path):
    assert unresolved_columns(model.read_text(), _raw_schema()) is None


def test_a_staging_model_reading_an_undeclared_column_is_caught():
    sql = "with source as (select * from pexip_engage.appointments) select nope from source"
    assert "Column 'nope' could not be resolved" in str(unresolved_columns(sql, _raw_schema()))


# --- settings: README table, .dlt/config.toml, the sources' signatures ------------------


def settings_of(entry: SourceEntry) -> dict[str, Any]:
    """Name -> default of every setting dlt injects; per-run options (`--reconcile`) are
    command-line flags, not settings."""
    parameters = inspect.signature(entry.factory).parameters.values()
    return {
        p.name: OPTIONAL_SECRET if _optional_secret(p) else p.default
        for p in parameters
        if p.name not in entry.run_options
    }


OPTIONAL_SECRET = object()
"""The default of a secret that may be left out (`x: TSecretStrValue | None = None`)."""


def _optional_secret(parameter: inspect.Parameter) -> bool:
    return parameter.default is None and "Secret" in str(parameter.annotation)


def is_secret(default: Any) -> bool:
    return default is dlt.secrets.value or default is OPTIONAL_SECRET


def is_required(default: Any) -> bool:
    return default is dlt.config.value or default is dlt.secrets.value


def same_default(documented: Any, default: Any) -> bool:
    if is_required(default):
        return documented is REQUIRED
    if default is OPTIONAL_SECRET:
        return documented is None
    if default is None or isinstance(default, str | bool):
        return documented == default
    return isinstance(documented, float) and documented == float(default)


README_SETTINGS = readme_settings((ROOT / "README.md").read_text())


def documented_for(source: str) -> dict[str, DocumentedSetting]:
    return {s.name: s for s in README_SETTINGS if s.source in (source, ALL_SOURCES)}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_readme_documents_every_setting_of_the_source_and_no_other(source: str):
    documented, settings = set(documented_for(source)), set(settings_of(SOURCES[source]))
    assert not settings - documented, f"not in the README: {sorted(settings - documented)}"
    assert not documented - settings, f"not a setting of {source}: {sorted(documented - settings)}"


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_readme_gives_each_setting_the_default_of_the_signature(source: str):
    documented = documented_for(source)
    for name, default in settings_of(SOURCES[source]).items():
        assert same_default(documented[name].default, default), (name, documented[name], default)
        assert documented[name].secret == is_secret(default), name


def test_readme_names_the_environment_variable_of_each_setting():
    for setting in README_SETTINGS:
        if setting.env is not None:
            assert setting.env == env_name(f"sources.{setting.source}.{setting.name}")


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_config_toml_lists_every_setting_with_its_default(source: str):
    entry = SOURCES[source]
    active, commented = toml_keys(ROOT / ".dlt" / "config.toml", entry.config_section)
    settings = settings_of(entry)
    assert not (set(active) | commented) - set(settings), "keys the source does not have"
    for name, default in settings.items():
        if is_secret(default):
            assert name not in active and name not in commented, f"{name} is a secret"
        elif is_required(default) or default is None:
            assert name in commented and name not in active, f"{name}: show it commented out"
        else:
            assert name in active, f"{name} is missing"
            assert active[name] == default and type(active[name]) is type(default), name


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_example_secrets_hold_exactly_the_secret_settings(source: str):
    entry = SOURCES[source]
    active, commented = toml_keys(ROOT / ".dlt" / "example.secrets.toml", entry.config_section)
    settings = settings_of(entry)
    required = [
        name for name, default in settings.items() if is_required(default) and is_secret(default)
    ]
    optional = {name for name, default in settings.items() if default is OPTIONAL_SECRET}
    assert sorted(set(active) - optional) == sorted(required)
    assert optional <= set(active) | commented, "an optional secret is not shown"
