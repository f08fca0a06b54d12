"""Audits: each returns the rows that break its rule; `apptsync check` fails when any does.
The audits run on DuckDB and on Postgres (the check command on DuckDB)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dlt.destinations.sql_client import SqlClientBase

from pipelines.models import (
    SQL_DIR,
    AuditResult,
    ModelError,
    build_models,
    format_audit_report,
    open_sql_client,
    run_audits,
)
from tests.model_fixtures import PEXIP, VALOMNIA, insert, load_scenario, ts

AUDITS = [
    "assert_child_rows_have_appointment",
    "assert_ends_at_not_before_starts_at",
    "assert_raw_appointments_in_fct",
    "assert_status_in_vocabulary",
    "assert_unique_appointment_key",
]


@pytest.fixture
def client(fresh: SqlClientBase[Any]) -> SqlClientBase[Any]:
    """The scenario in a new warehouse, on DuckDB and on Postgres."""
    load_scenario(fresh)
    return fresh


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqlClientBase[Any]]:
    """The scenario in the configured DuckDB warehouse, as `apptsync check` finds it."""
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "audited.duckdb"))
    with open_sql_client() as opened:
        load_scenario(opened)
        yield opened


def failing(results: list[AuditResult]) -> dict[str, list[tuple[Any, ...]]]:
    return {r.name: r.sample_rows for r in results if not r.passed}


def test_audits_pass_on_clean_data(client: SqlClientBase[Any]) -> None:
    build_models(client)
    results = run_audits(client)
    assert [r.name for r in results] == AUDITS
    assert failing(results) == {}
    assert format_audit_report(results).endswith("All 5 audits passed.")


def test_audits_pass_on_an_empty_warehouse(fresh: SqlClientBase[Any]) -> None:
    build_models(fresh)
    assert failing(run_audits(fresh)) == {}


def _duplicate_key(client: SqlClientBase[Any]) -> None:
    insert(client, PEXIP, "appointments", [{"id": "p1", "status": "ACCEPTED"}])


def _orphan_children(client: SqlClientBase[Any]) -> None:
    insert(
        client,
        PEXIP,
        "appointments__appointment_participants",
        [{"appointment_id": "ghost", "list_index": 0, "participant__id": "x"}],
    )
    insert(client, VALOMNIA, "appointments__contacts", [{"appointment_id": 99, "id": 500}])


def _unknown_status(client: SqlClientBase[Any]) -> None:
    insert(client, PEXIP, "appointments", [{"id": "p9", "status": "RESCHEDULED_BY_ROBOT"}])


def _ends_before_start(client: SqlClientBase[Any]) -> None:
    insert(
        client,
        VALOMNIA,
        "appointments",
        [
            {
                "id": 5,
                "done": False,
                "start_date": ts("2024-03-05 10:00"),
                "end_date": ts("2024-03-05 09:00"),
            }
        ],
    )


PLANTS: dict[str, tuple[Callable[[SqlClientBase[Any]], None], dict[str, list[Any]]]] = {
    "duplicate-key": (
        _duplicate_key,
        {"assert_unique_appointment_key": [("pexip_engage:p1", 2)]},
    ),
    "orphan-child-rows": (
        _orphan_children,
        {
            "assert_child_rows_have_appointment": [
                ("stg_pexip_engage__appointment_participants", "ghost", "participant_index=0"),
                ("stg_valomnia__contacts", "99", "contact_id=500"),
            ]
        },
    ),
    "status-outside-vocabulary": (
        _unknown_status,
        {
            "assert_status_in_vocabulary": [
                ("pexip_engage:p9", "pexip_engage", "RESCHEDULED_BY_ROBOT", "unmapped")
            ]
        },
    ),
    "ends-before-it-starts": (
        _ends_before_start,
        {
            "assert_ends_at_not_before_starts_at": [
                ("valomnia:5", ts("2024-03-05 10:00"), ts("2024-03-05 09:00"))
            ]
        },
    ),
}


@pytest.mark.parametrize("plant", list(PLANTS))
def test_a_planted_violation_fails_its_audit_only(client: SqlClientBase[Any], plant: str) -> None:
    violate, expected = PLANTS[plant]
    violate(client)
    build_models(client)
    assert failing(run_audits(client)) == expected


def test_a_model_that_drops_raw_appointments_fails_the_audit(
    tmp_path: Path, client: SqlClientBase[Any]
) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    fct = sql_dir / "reporting" / "fct_appointments.sql"
    fct.write_text(
        fct.read_text().replace(
            "select * from final", "select * from final\nwhere source <> 'valomnia'"
        )
    )
    build_models(client, sql_dir=sql_dir)
    results = run_audits(client, sql_dir=sql_dir, sample_size=3)
    (result,) = [r for r in results if not r.passed]
    assert result.name == "assert_raw_appointments_in_fct"
    assert result.failing_count == 4
    assert result.columns == ["source", "appointment_id"]
    assert result.sample_rows == [("valomnia", "1"), ("valomnia", "2"), ("valomnia", "3")]


def test_check_command_fails_on_a_planted_violation(
    configured: SqlClientBase[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.cli import main

    client = configured
    build_models(client)
    assert main(["check"]) == 0
    assert "All 5 audits passed." in capsys.readouterr().out

    _unknown_status(client)
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  assert_status_in_vocabulary: 1 row breaks the rule" in out
    assert "pexip_engage:p9" in out
    assert "RESCHEDULED_BY_ROBOT" in out
    assert "PASS  assert_unique_appointment_key" in out
    assert out.rstrip().endswith("1 of 5 audits failed.")


def test_audits_before_the_models_are_built_name_the_file(fresh: SqlClientBase[Any]) -> None:
    with pytest.raises(ModelError) as raised:
        run_audits(fresh)
    assert str(raised.value) == (
        "sql/audits/assert_child_rows_have_appointment.sql: reads"
        " staging.stg_pexip_engage__answer_files, staging.stg_pexip_engage__answer_options,"
        " staging.stg_pexip_engage__answers, staging.stg_pexip_engage__appointment_participants,"
        " staging.stg_pexip_engage__appointments, staging.stg_pexip_engage__locations,"
        " staging.stg_valomnia__appointments, staging.stg_valomnia__contacts, which is not built"
        " in this warehouse (run `apptsync models` first)"
    )


def test_an_audit_the_database_rejects_names_its_file(
    tmp_path: Path, client: SqlClientBase[Any]
) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    (sql_dir / "audits" / "assert_broken.sql").write_text(
        "select no_such_column from reporting.fct_appointments"
    )
    build_models(client, sql_dir=sql_dir)
    with pytest.raises(ModelError) as raised:
        run_audits(client, sql_dir=sql_dir)
    message = str(raised.value)
    assert message.startswith("sql/audits/assert_broken.sql: "), message
    assert "no_such_column" in message and "\n" not in message and "LINE" not in message


def test_an_audit_reading_an_undeclared_table_fails_naming_its_file(
    tmp_path: Path, client: SqlClientBase[Any]
) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    (sql_dir / "audits" / "assert_typo.sql").write_text(
        "-- every raw Valomnia appointment has an id.\n"
        "select id from valomnia.apointments where id is null"
    )
    build_models(client, sql_dir=sql_dir)
    with pytest.raises(ModelError) as raised:
        run_audits(client, sql_dir=sql_dir)
    assert str(raised.value) == (
        "sql/audits/assert_typo.sql: reads valomnia.apointments, which is not a declared raw"
        " table; did you mean valomnia.appointments?"
    )
    assert raised.value.paths == (sql_dir / "audits" / "assert_typo.sql",)


def test_the_report_shows_each_failing_audit_with_example_rows() -> None:
    results = [
        AuditResult("assert_a", Path("a.sql"), 0),
        AuditResult(
            "assert_b",
            Path("b.sql"),
            7,
            ["appointment_key", "n"],
            [("pexip_engage:1", 2), ("valomnia:10", None)],
            description="Keys are unique.\n\nMore words.",
        ),
    ]
    assert format_audit_report(results) == "\n".join(
        [
            "PASS  assert_a",
            "FAIL  assert_b: 7 rows break the rule",
            "      Keys are unique.",
            "      appointment_key | n   ",
            "      ----------------+-----",
            "      pexip_engage:1  | 2   ",
            "      valomnia:10     | null",
            "      ... and 5 more",
            "1 of 2 audits failed.",
        ]
    )
