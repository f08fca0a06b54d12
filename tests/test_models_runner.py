"""The model runner: discovery from the SQL itself, build order, cycles, missing models,
failure atomicity, declared and undeclared raw tables, dialects, and where the client comes
from (selections: test_model_selection.py)."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from dlt.destinations.sql_client import SqlClientBase
from sqlglot.errors import ErrorLevel

from pipelines.models import (
    DECLARED_TABLES,
    SQL_DIR,
    ModelError,
    WarehouseError,
    build_models,
    declared_tables,
    discover,
    discover_audits,
    open_sql_client,
)
from tests.holder_helpers import Holder
from tests.model_fixtures import query, typed_columns, write_models


def views(client: SqlClientBase[Any]) -> list[tuple[str, str]]:
    return query(
        client,
        "select schema_name, view_name from duckdb_views() where not internal order by 1, 2",
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[SqlClientBase[Any]]:
    with open_sql_client(credentials=str(tmp_path / "runner.duckdb")) as opened:
        yield opened


# the raw tables the made-up models below may read
RAW = {"raw.numbers", "raw.events"}

# three models read each other; the file names say nothing about the order
CHAIN = {
    "reporting/a_report": (
        "-- The report.\n"
        "with b as (select * from intermediate.m_middle)\n"
        "select b.n, base.label from b join staging.z_base as base on base.n = b.n"
    ),
    "intermediate/m_middle": "select n * 10 as n from staging.z_base",
    "staging/z_base": "select cast(n as bigint) as n, cast(label as varchar) as label "
    "from raw.numbers",
}


def test_dependencies_come_from_the_sql(tmp_path: Path) -> None:
    models = {m.qualified_name: m for m in discover(write_models(tmp_path, CHAIN), RAW)}
    assert models["reporting.a_report"].depends_on == ("intermediate.m_middle", "staging.z_base")
    assert models["intermediate.m_middle"].depends_on == ("staging.z_base",)
    assert models["staging.z_base"].depends_on == ()
    assert models["staging.z_base"].sources == ("raw.numbers",)
    # the CTE named `b` is not a table reference
    assert models["reporting.a_report"].sources == ()
    assert models["reporting.a_report"].description == "The report."


def test_models_build_in_dependency_order(tmp_path: Path, client: SqlClientBase[Any]) -> None:
    sql_dir = write_models(tmp_path, CHAIN)
    expected = ["staging.z_base", "intermediate.m_middle", "reporting.a_report"]
    assert [m.qualified_name for m in discover(sql_dir, RAW)] == expected
    assert build_models(client, sql_dir=sql_dir, declared=RAW) == expected
    assert views(client) == [
        ("intermediate", "m_middle"),
        ("reporting", "a_report"),
        ("staging", "z_base"),
    ]


def test_a_cycle_is_an_error_naming_the_files(tmp_path: Path) -> None:
    sql_dir = write_models(
        tmp_path,
        {
            "staging/ok": "select 1 as a",
            "intermediate/ping": "select * from intermediate.pong",
            "intermediate/pong": "select * from intermediate.ping join staging.ok using (a)",
        },
    )
    with pytest.raises(ModelError, match="dependency cycle") as raised:
        discover(sql_dir)
    message = str(raised.value)
    assert "sql/intermediate/ping.sql" in message
    assert "sql/intermediate/pong.sql" in message
    assert "ok.sql" not in message
    assert sorted(p.name for p in raised.value.paths) == ["ping.sql", "ping.sql", "pong.sql"]


def test_a_model_reading_itself_is_a_cycle(tmp_path: Path) -> None:
    sql_dir = write_models(tmp_path, {"reporting/loop": "select * from reporting.loop"})
    with pytest.raises(ModelError, match=r"dependency cycle: sql/reporting/loop.sql"):
        discover(sql_dir)


def test_a_reference_to_a_model_that_does_not_exist_names_the_file(tmp_path: Path) -> None:
    sql_dir = write_models(tmp_path, {"reporting/orphan": "select * from intermediate.int_missing"})
    with pytest.raises(ModelError) as raised:
        discover(sql_dir)
    assert str(raised.value) == (
        "sql/reporting/orphan.sql: references intermediate.int_missing,"
        " but there is no model intermediate/int_missing.sql"
    )


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("select * from some_table", "needs its schema"),
        ("select 1 as a; select 2 as b", "exactly one select"),
        ("create table staging.t (a int)", "exactly one select"),
        ("select from where", "cannot parse"),
    ],
    ids=["unqualified-table", "two-statements", "not-a-select", "not-sql"],
)
def test_a_file_that_is_not_one_qualified_select_is_an_error(
    tmp_path: Path, sql: str, message: str
) -> None:
    sql_dir = write_models(tmp_path, {"staging/bad": sql})
    with pytest.raises(ModelError, match=message) as raised:
        discover(sql_dir)
    assert str(raised.value).startswith("sql/staging/bad.sql: ")


def test_a_failing_model_names_its_file_and_leaves_earlier_views_intact(
    tmp_path: Path, client: SqlClientBase[Any]
) -> None:
    sql_dir = write_models(
        tmp_path,
        {
            "staging/first": "select 1 as version",
            "reporting/second": "select version from staging.first",
        },
    )
    build_models(client, sql_dir=sql_dir)
    before = views(client)

    # a new version of the first model, a new schema and model, and a second model that breaks
    write_models(
        tmp_path,
        {
            "staging/first": "select 2 as version",
            "marts/brand_new": "select version from staging.first",
            "reporting/second": "select no_such_column from staging.first",
        },
    )
    with pytest.raises(ModelError) as raised:
        build_models(client, sql_dir=sql_dir)

    message = str(raised.value)
    assert message.startswith("sql/reporting/second.sql: Binder Error")
    assert "no_such_column" in message
    assert "\n" not in message and "LINE" not in message
    assert raised.value.paths == (sql_dir / "reporting" / "second.sql",)
    # nothing of the failed build remains: not the new version, not the new schema
    assert views(client) == before
    assert query(client, "select version from staging.first") == [(1,)]
    assert query(client, "select version from reporting.second") == [(1,)]
    assert query(
        client, "select count(*) from information_schema.schemata where schema_name = 'marts'"
    ) == [(0,)]


def test_a_declared_raw_table_not_landed_yet_reads_as_no_rows_of_the_cast_types(
    tmp_path: Path, client: SqlClientBase[Any]
) -> None:
    sql_dir = write_models(
        tmp_path,
        {
            "staging/stg_events": (
                "with source as (select * from raw.events as e where e.kind <> 'noise'),\n"
                'renamed as (select cast(id as bigint) as event_id, cast("end" as timestamptz)'
                " as ended_at, cast(kind as varchar) as kind, cast(ok as boolean) as is_ok"
                " from source)\n"
                "select * from renamed"
            ),
            "reporting/rpt_events": "select kind, count(*) as n from staging.stg_events group by 1",
        },
    )
    assert build_models(client, sql_dir=sql_dir, declared=RAW) == [
        "staging.stg_events",
        "reporting.rpt_events",
    ]
    assert query(client, "select * from staging.stg_events") == []
    assert typed_columns(client, "staging.stg_events") == [
        ("event_id", "BIGINT"),
        ("ended_at", "TIMESTAMP WITH TIME ZONE"),
        ("kind", "VARCHAR"),
        ("is_ok", "BOOLEAN"),
    ]
    assert query(client, "select * from reporting.rpt_events") == []

    # the sync lands the table; the next build reads it
    client.execute_sql("create schema raw")
    client.execute_sql(
        'create table raw.events (id bigint, "end" timestamptz, kind varchar, ok boolean)'
    )
    client.execute_sql("insert into raw.events values (1, null, 'click', true)")
    build_models(client, sql_dir=sql_dir, declared=RAW)
    assert query(client, "select event_id, kind, is_ok from staging.stg_events") == [
        (1, "click", True)
    ]


# declared raw tables


def repo_sql_with(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of the repository's `sql/` with `old` replaced by `new` in one file."""
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    path = sql_dir / file
    text = path.read_text()
    assert old in text, f"{file} no longer contains {old!r}"
    path.write_text(text.replace(old, new))
    return sql_dir


def test_a_typo_in_a_raw_table_builds_nothing_and_names_the_close_match(
    tmp_path: Path, client: SqlClientBase[Any]
) -> None:
    sql_dir = repo_sql_with(
        tmp_path,
        "staging/stg_pexip_engage__appointments.sql",
        "from pexip_engage.appointments\n",
        "from pexip_engage.appointmnets\n",
    )
    with pytest.raises(ModelError) as raised:
        build_models(client, sql_dir=sql_dir)
    assert str(raised.value) == (
        "sql/staging/stg_pexip_engage__appointments.sql: reads pexip_engage.appointmnets,"
        " which is not a declared raw table; did you mean pexip_engage.appointments?"
    )
    assert raised.value.paths == (sql_dir / "staging" / "stg_pexip_engage__appointments.sql",)
    assert views(client) == []
    assert query(
        client,
        "select count(*) from information_schema.schemata"
        " where schema_name in ('staging', 'intermediate', 'reporting')",
    ) == [(0,)]


def test_a_relation_nothing_declares_is_an_error_saying_where_tables_are_declared(
    tmp_path: Path,
) -> None:
    sql_dir = write_models(
        tmp_path, {"staging/stg_guess": "select id from pexip_engage.participants"}
    )
    with pytest.raises(ModelError) as raised:
        discover(sql_dir)
    assert str(raised.value) == (
        "sql/staging/stg_guess.sql: reads pexip_engage.participants, which is not a declared raw"
        " table (a source's tables come from its SourceEntry, apptsync's own from"
        " DECLARED_TABLES in pipelines/models/sources.py)"
    )


def test_every_table_a_source_lands_and_the_run_ledger_are_declared() -> None:
    assert declared_tables() == {
        "pexip_engage.appointments",
        "pexip_engage.appointments__appointment_participants",
        "pexip_engage.appointments__answers",
        "pexip_engage.appointments__answers__selected_answer_options",
        "pexip_engage.appointments__answers__files",
        "pexip_engage.appointments__location",
        "pexip_engage._quarantine",
        "pexip_engage._appointment_scan",
        "valomnia.appointments",
        "valomnia.appointments__contacts",
        "valomnia._quarantine",
        "valomnia._appointment_scan",
        "ops.sync_runs",
    }
    assert set(DECLARED_TABLES) == {"ops.sync_runs"}


def test_a_declared_apptsync_table_not_written_yet_reads_as_no_rows(
    tmp_path: Path, client: SqlClientBase[Any]
) -> None:
    sql_dir = write_models(
        tmp_path,
        {
            "staging/stg_ops__sync_runs": (
                "select cast(source as varchar) as source, cast(rows as bigint) as row_count"
                " from ops.sync_runs"
            )
        },
    )
    assert build_models(client, sql_dir=sql_dir) == ["staging.stg_ops__sync_runs"]
    assert query(client, "select * from staging.stg_ops__sync_runs") == []
    assert typed_columns(client, "staging.stg_ops__sync_runs") == [
        ("source", "VARCHAR"),
        ("row_count", "BIGINT"),
    ]


def test_building_twice_replaces_the_views(tmp_path: Path, client: SqlClientBase[Any]) -> None:
    sql_dir = write_models(tmp_path, CHAIN)
    first = build_models(client, sql_dir=sql_dir, declared=RAW)
    assert build_models(client, sql_dir=sql_dir, declared=RAW) == first


def test_each_model_is_transpiled_to_the_client_dialect(
    tmp_path: Path, client: SqlClientBase[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    sql_dir = write_models(
        tmp_path, {"staging/t": "select epoch(timestamptz '2024-01-01 00:00:00+00') as s"}
    )
    sent: list[str] = []
    execute_sql = client.execute_sql

    def spy(sql: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(sql)
        return execute_sql(sql, *args, **kwargs)

    monkeypatch.setattr(client, "execute_sql", spy)
    build_models(client, sql_dir=sql_dir)
    assert any("EPOCH(" in s for s in sent if "CREATE OR REPLACE VIEW" in s)

    # the same model for a postgres-dialect client (DuckDB happens to run it too)
    capabilities = copy.copy(client.capabilities)
    capabilities.sqlglot_dialect = "postgres"
    monkeypatch.setattr(client, "capabilities", capabilities)
    sent.clear()
    build_models(client, sql_dir=sql_dir)
    (create,) = [s for s in sent if "CREATE OR REPLACE VIEW" in s]
    assert "DATE_PART('epoch'" in create
    assert "EPOCH(" not in create
    assert query(client, "select s from staging.t") == [(1704067200.0,)]


@pytest.mark.parametrize("dialect", ["postgres", "snowflake", "databricks", "redshift"])
def test_the_repo_models_carry_over_to_other_warehouses(dialect: str) -> None:
    """Not a guarantee that they run there, but sqlglot knows how to write every construct."""
    texts = [model.sql for model in discover()] + [audit.sql for audit in discover_audits()]
    for text in texts:
        sqlglot.transpile(text, read="duckdb", write=dialect, unsupported_level=ErrorLevel.RAISE)


def test_the_repo_models_keep_their_layers() -> None:
    models = discover()
    assert Path(__file__).resolve().parent.parent / "sql" == SQL_DIR
    assert {m.schema for m in models} == {"staging", "intermediate", "reporting"}
    for model in models:
        if model.schema == "staging":
            assert model.depends_on == (), f"{model.path} reads a model"
            assert len(model.sources) == 1, f"{model.path} must read exactly one raw table"
        else:
            assert model.sources == (), f"{model.path} reads a raw table; only staging may"
        if model.schema == "intermediate":
            assert all(d.startswith(("staging.", "intermediate.")) for d in model.depends_on)


# where the client comes from


def _build_tiny(tmp_path: Path, **kwargs: Any) -> None:
    sql_dir = write_models(tmp_path, {"staging/tiny": "select 1 as one"})
    with open_sql_client(**kwargs) as opened:
        build_models(opened, sql_dir=sql_dir)


def test_open_sql_client_uses_dlt_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "configured.duckdb"
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(target))
    _build_tiny(tmp_path)
    assert target.exists()


def test_open_sql_client_defaults_to_apptsync_duckdb_in_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DESTINATION__DUCKDB__CREDENTIALS", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    _build_tiny(tmp_path)
    assert (work / "apptsync.duckdb").exists()
    assert not (work / ".dlt").exists()


def test_open_sql_client_credentials_override_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "config.duckdb"))
    _build_tiny(tmp_path, credentials=str(tmp_path / "explicit.duckdb"))
    assert (tmp_path / "explicit.duckdb").exists()
    assert not (tmp_path / "config.duckdb").exists()


def test_a_warehouse_another_process_holds_is_one_line_naming_its_pid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.cli import main

    path = tmp_path / "held.duckdb"
    with Holder(path, read_only=False) as holder:
        with pytest.raises(WarehouseError) as raised, open_sql_client(credentials=str(path)):
            pass
        message = str(raised.value)
        assert message.startswith(f"the warehouse {path} is locked by PID {holder.pid} (")
        assert message.endswith(
            "): another apptsync run or DuckDB session has it open; try again when it has finished"
        )

        # the command waits for the holder (apptsync.lock_wait_seconds), then exits 75
        monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(path))
        monkeypatch.setenv("APPTSYNC__LOCK_WAIT_SECONDS", "0")
        assert main(["models"]) == 75
        error = capsys.readouterr().err
        assert len(error.splitlines()) == 1 and "lock" in error and f"PID {holder.pid}" in error
    assert holder.process.returncode == 0


def test_a_warehouse_that_cannot_be_opened_gives_the_database_reason(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_folder" / "warehouse.duckdb"
    with pytest.raises(WarehouseError) as raised, open_sql_client(credentials=str(missing)):
        pass
    assert str(raised.value) == (
        f'cannot open the warehouse (DuckDbSqlClient): IO Error: Cannot open file "{missing}":'
        " No such file or directory"
    )


def test_build_models_takes_a_pipeline_sql_client(tmp_path: Path) -> None:
    import dlt

    pipeline = dlt.pipeline(
        pipeline_name="runner_test",
        destination=dlt.destinations.duckdb(credentials=str(tmp_path / "pipeline.duckdb")),
        dataset_name="whatever",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    sql_dir = write_models(tmp_path, CHAIN)
    with pipeline.sql_client() as pipeline_client:
        built = build_models(pipeline_client, sql_dir=sql_dir, declared=RAW)
        assert built[-1] == "reporting.a_report"
        assert query(pipeline_client, "select count(*) from reporting.a_report") == [(0,)]
