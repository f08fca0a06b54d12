"""The same sync, landed by dlt in DuckDB and in Postgres, gives the same reporting rows: every
model and audit, written once in DuckDB's dialect, runs on both through sqlglot."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import pytest

from pipelines.models import any_failed, build_models, discover, open_sql_client, run_audits
from pipelines.simulator import Simulator
from pipelines.sources import SOURCES
from tests.model_fixtures import Warehouse, new_warehouse, query
from tests.utils import configure_source

REPORTING = [m.qualified_name for m in discover() if m.schema == "reporting"]


def land(warehouse: Warehouse, pipelines_dir: Path) -> None:
    """Both sources into the warehouse with plain dlt pipelines (no ledger, no clean-up), as
    the sync lands them: Arrow tables with dlt's load id on every row, as parquet into DuckDB
    and as csv (`COPY`) into Postgres."""
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    file_format = "parquet" if warehouse.destination == "duckdb" else "csv"
    destination = (
        dlt.destinations.duckdb(credentials=warehouse.location)
        if warehouse.destination == "duckdb"
        else dlt.destinations.postgres(credentials=warehouse.location)
    )
    for name, entry in SOURCES.items():
        pipeline = dlt.pipeline(
            pipeline_name=f"{name}_{warehouse.destination}",
            destination=destination,
            dataset_name=name,
            pipelines_dir=str(pipelines_dir),
        )
        pipeline.run(entry.build(), loader_file_format=file_format)


def normalized(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows in one order whatever the engine, times in UTC."""
    as_utc = [
        tuple(v.astimezone(UTC) if isinstance(v, datetime) else v for v in row) for row in rows
    ]
    return sorted(as_utc, key=lambda row: [(value is None, str(value)) for value in row])


def test_a_sync_gives_the_same_reporting_rows_on_duckdb_and_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    results: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
    with Simulator(appointments=150, seed=23) as sim:
        for name in SOURCES:
            configure_source(name, sim, monkeypatch)
        for destination in ("duckdb", "postgres"):
            for warehouse in new_warehouse(destination, tmp_path, request):
                land(warehouse, tmp_path / "pipelines")
                with warehouse.client() as client:
                    assert len(build_models(client)) == len(discover())
                    audits = run_audits(client)
                    assert not any_failed(audits)
                    assert [a.name for a in audits if not a.passed] == []
                    results[destination] = {
                        model: normalized(query(client, f"select * from {model}"))
                        for model in REPORTING
                    }

    duckdb_rows, postgres_rows = results["duckdb"], results["postgres"]
    assert len(duckdb_rows["reporting.fct_appointments"]) == 300
    assert len(duckdb_rows["reporting.fct_appointment_participants"]) > 300
    for model in REPORTING:
        differ = [
            (a, b) for a, b in zip(postgres_rows[model], duckdb_rows[model], strict=True) if a != b
        ]
        assert not differ, f"{model}: {differ[:3]}"


def test_open_sql_client_takes_a_postgres_destination(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    for warehouse in new_warehouse("postgres", tmp_path, request):
        postgres = dlt.destinations.postgres(credentials=warehouse.location)
        with open_sql_client(destination=postgres) as client:
            assert type(client).__name__ == "Psycopg2SqlClient"
            built = build_models(client, select="+reporting.fct_appointments")
            assert built[-1] == "reporting.fct_appointments"
            assert query(client, "select count(*) from reporting.fct_appointments") == [(0,)]
