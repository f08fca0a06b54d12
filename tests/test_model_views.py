"""How the build replaces and drops views, on DuckDB and on Postgres: a model whose columns
change is replaced (Postgres: dropped and recreated in the build's transaction, with the
apptsync views that read it), the views of deleted model files are dropped, and a view that
apptsync did not build is never dropped."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from dlt.destinations.sql_client import SqlClientBase

from pipelines.models import ModelError, build_models
from tests.model_fixtures import model_views, query, typed_columns, write_models

BASE = {
    "staging/base": "select 1 as n, 'one' as label",
    "intermediate/reader": "select n, label from staging.base",
    "reporting/report": "select count(*) as c, max(label) as top_label from intermediate.reader",
}


def recorded(client: SqlClientBase[Any]) -> list[tuple[str, str, str]]:
    return query(
        client, "select schema_name, view_name, model_path from ops.model_views order by 1, 2"
    )


def test_every_built_view_is_recorded_with_its_file(
    tmp_path: Path, fresh: SqlClientBase[Any]
) -> None:
    build_models(fresh, sql_dir=write_models(tmp_path, BASE))
    assert recorded(fresh) == [
        ("intermediate", "reader", "sql/intermediate/reader.sql"),
        ("reporting", "report", "sql/reporting/report.sql"),
        ("staging", "base", "sql/staging/base.sql"),
    ]


@pytest.mark.parametrize(
    "changed",
    [
        "select 2 as n",  # a column dropped
        "select 2 as number, 'two' as label",  # renamed
        "select 'two' as n, 'two' as label",  # retyped
    ],
    ids=["dropped", "renamed", "retyped"],
)
def test_a_model_whose_columns_change_is_replaced_with_the_views_reading_it(
    tmp_path: Path, fresh: SqlClientBase[Any], changed: str
) -> None:
    sql_dir = write_models(tmp_path, BASE)
    build_models(fresh, sql_dir=sql_dir)
    reader = "select * from staging.base"  # reads whatever base has
    write_models(tmp_path, {"staging/base": changed, "intermediate/reader": reader})
    write_models(tmp_path, {"reporting/report": "select count(*) as c from intermediate.reader"})

    assert build_models(fresh, sql_dir=sql_dir) == [
        "staging.base",
        "intermediate.reader",
        "reporting.report",
    ]
    assert query(fresh, "select * from staging.base") == query(fresh, changed)
    assert query(fresh, "select c from reporting.report") == [(1,)]


def test_a_selected_model_whose_columns_change_rebuilds_the_views_postgres_drops(
    tmp_path: Path, fresh: SqlClientBase[Any], model_destination: str
) -> None:
    sql_dir = write_models(tmp_path, BASE)
    build_models(fresh, sql_dir=sql_dir)
    write_models(tmp_path, {"staging/base": "select 1 as n, 'one' as label, true as is_new"})
    write_models(tmp_path, {"intermediate/reader": "select n, label, 2 as extra from staging.base"})

    # a column added at the end: replaced in place, on Postgres too
    assert build_models(fresh, select="intermediate.reader", sql_dir=sql_dir) == [
        "intermediate.reader"
    ]
    write_models(tmp_path, {"intermediate/reader": "select label from staging.base"})  # n dropped
    write_models(tmp_path, {"reporting/report": "select count(*) as c from intermediate.reader"})
    built = build_models(fresh, select="intermediate.reader", sql_dir=sql_dir)
    if model_destination == "postgres":
        # Postgres must drop reader, and report with it (it reads reader): both are rebuilt
        assert built == ["intermediate.reader", "reporting.report"]
        assert [name for name, _ in typed_columns(fresh, "reporting.report")] == ["c"]
    else:
        assert built == ["intermediate.reader"]  # DuckDB replaces reader alone
    assert [name for name, _ in typed_columns(fresh, "intermediate.reader")] == ["label"]
    assert query(fresh, "select c from reporting.report") == [(1,)]


def test_a_view_someone_else_built_over_a_changing_model_stops_the_build_on_postgres(
    tmp_path: Path, fresh: SqlClientBase[Any], model_destination: str
) -> None:
    sql_dir = write_models(tmp_path, BASE)
    build_models(fresh, sql_dir=sql_dir)
    fresh.execute_sql("create schema analyst")
    fresh.execute_sql("create view analyst.labels as select label from intermediate.reader")
    write_models(
        tmp_path, {"intermediate/reader": "select label, n from staging.base"}
    )  # reordered

    if model_destination == "duckdb":  # replaced in place; the analyst's view still works
        build_models(fresh, sql_dir=sql_dir)
        assert query(fresh, "select label from analyst.labels") == [("one",)]
        return
    with pytest.raises(ModelError) as raised:
        build_models(fresh, sql_dir=sql_dir)
    assert str(raised.value) == (
        "sql/intermediate/reader.sql: its columns changed, so Postgres must drop and recreate"
        " intermediate.reader, but analyst.labels (not built by apptsync) reads it: drop that"
        " view first, and create it again after the build"
    )
    # nothing of the build remains: the old reader, the analyst's view, the record
    assert [name for name, _ in typed_columns(fresh, "intermediate.reader")] == ["n", "label"]
    assert query(fresh, "select label from analyst.labels") == [("one",)]
    assert len(recorded(fresh)) == 3


def test_a_failing_model_leaves_a_replaced_view_as_it_was(
    tmp_path: Path, fresh: SqlClientBase[Any]
) -> None:
    sql_dir = write_models(tmp_path, BASE)
    build_models(fresh, sql_dir=sql_dir)
    write_models(
        tmp_path, {"staging/base": "select 2 as other"}
    )  # reader now reads a missing column
    with pytest.raises(ModelError, match=r"^sql/intermediate/reader.sql: "):
        build_models(fresh, sql_dir=sql_dir)
    assert query(fresh, "select n, label from staging.base") == [(1, "one")]
    assert query(fresh, "select c, top_label from reporting.report") == [(1, "one")]


def test_the_view_of_a_deleted_model_file_is_dropped_by_a_full_build(
    tmp_path: Path, fresh: SqlClientBase[Any], caplog: pytest.LogCaptureFixture
) -> None:
    old = {
        "reporting/old_report": "select n from staging.base",
        "reporting/old_zdetail": "select n from reporting.old_report",  # reads the other one
    }
    sql_dir = write_models(tmp_path, {**BASE, **old})
    build_models(fresh, sql_dir=sql_dir)
    fresh.execute_sql("create view reporting.my_own as select 42 as answer")  # an analyst's
    for name in old:
        (sql_dir / f"{name}.sql").unlink()

    build_models(fresh, select="report", sql_dir=sql_dir)  # a selection drops nothing
    assert ("reporting", "old_report") in model_views(fresh)

    with caplog.at_level(logging.INFO, logger="apptsync.models"):
        build_models(fresh, sql_dir=sql_dir)
    assert model_views(fresh) == [
        ("intermediate", "reader"),
        ("reporting", "my_own"),
        ("reporting", "report"),
        ("staging", "base"),
    ]
    assert [r[:2] for r in recorded(fresh)] == [
        ("intermediate", "reader"),
        ("reporting", "report"),
        ("staging", "base"),
    ]
    assert "dropped view reporting.old_zdetail: its model file is gone" in caplog.messages
    assert "dropped view reporting.old_report: its model file is gone" in caplog.messages
    assert query(fresh, "select answer from reporting.my_own") == [(42,)]


def test_a_deleted_model_s_view_that_someone_else_reads_is_kept_with_a_warning(
    tmp_path: Path, fresh: SqlClientBase[Any], caplog: pytest.LogCaptureFixture
) -> None:
    sql_dir = write_models(tmp_path, {**BASE, "reporting/old_report": "select n from staging.base"})
    build_models(fresh, sql_dir=sql_dir)
    fresh.execute_sql("create schema analyst")
    fresh.execute_sql("create view analyst.on_old as select n from reporting.old_report")
    (sql_dir / "reporting" / "old_report.sql").unlink()

    with caplog.at_level(logging.WARNING, logger="apptsync.models"):
        build_models(fresh, sql_dir=sql_dir)
    assert caplog.messages == [
        "kept view reporting.old_report although its model file is gone: analyst.on_old (not"
        " built by apptsync) reads it"
    ]
    assert query(fresh, "select n from analyst.on_old") == [(1,)]
    assert ("reporting", "old_report") in model_views(fresh)

    fresh.execute_sql("drop view analyst.on_old")
    build_models(fresh, sql_dir=sql_dir)
    assert ("reporting", "old_report") not in model_views(fresh)
