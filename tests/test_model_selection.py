"""dbt's selectors over the models' graph (`name`, `schema.name`, `schema.*`, `+name`,
`name+`, unions, `--exclude`), the audits a selection takes along, audit severities, and a
selected build that rebuilds only what it names (and what has no view yet), on DuckDB and on
Postgres."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dlt.destinations.sql_client import SqlClientBase

from pipelines.models import (
    AuditResult,
    ModelError,
    SelectionError,
    any_failed,
    build_models,
    discover,
    discover_audits,
    format_audit_report,
    run_audits,
    select,
)
from tests.model_fixtures import query, view_definition, write_models

RAW = {"raw.numbers"}

# a diamond: base -> left, right -> joined -> report; other/lonely stands apart
GRAPH = {
    "staging/base": "select cast(n as bigint) as n from raw.numbers",
    "staging/lonely": "select 1 as one",
    "intermediate/left_side": "select n from staging.base",
    "intermediate/right_side": "select n * 2 as n from staging.base",
    "intermediate/joined": (
        "select l.n, r.n as doubled from intermediate.left_side as l"
        " inner join intermediate.right_side as r on l.n = r.n"
    ),
    "reporting/report": "select count(*) as c from intermediate.joined",
    "other/side": "select one from staging.lonely",
    "audits/assert_report_has_rows": (
        "-- the report's count is never negative.\nselect c from reporting.report where c < 0"
    ),
    "audits/assert_lonely_is_one": (
        "-- lonely is one.\n-- severity: warn\nselect one from staging.lonely where one <> 1"
    ),
}


@pytest.fixture
def sql_dir(tmp_path: Path) -> Path:
    return write_models(tmp_path, GRAPH)


@pytest.fixture
def client(fresh: SqlClientBase[Any]) -> SqlClientBase[Any]:
    """A new warehouse, on DuckDB and on Postgres."""
    return fresh


def picked(sql_dir: Path, *selectors: str, exclude: tuple[str, ...] = ()) -> tuple[list, list]:
    chosen = select(
        discover(sql_dir, RAW), discover_audits(sql_dir, RAW), list(selectors) or None, exclude
    )
    return chosen.model_names, [audit.name for audit in chosen.audits]


CASES = {
    "a name selects that model alone": (("joined",), ["intermediate.joined"]),
    "schema.name": (("intermediate.joined",), ["intermediate.joined"]),
    "+name adds everything upstream": (
        ("+joined",),
        [
            "staging.base",
            "intermediate.left_side",
            "intermediate.right_side",
            "intermediate.joined",
        ],
    ),
    "name+ adds everything downstream": (
        ("left_side+",),
        ["intermediate.left_side", "intermediate.joined", "reporting.report"],
    ),
    "+name+ both": (
        ("+right_side+",),
        ["staging.base", "intermediate.right_side", "intermediate.joined", "reporting.report"],
    ),
    "schema.* a whole layer": (
        ("intermediate.*",),
        ["intermediate.left_side", "intermediate.right_side", "intermediate.joined"],
    ),
    "space-separated selectors are a union": (
        ("report lonely",),
        ["staging.lonely", "reporting.report"],
    ),
    "repeated selectors are a union": (
        ("report", "other.side"),
        ["reporting.report", "other.side"],
    ),
    "case does not matter": (("Reporting.Report",), ["reporting.report"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_selectors_pick_the_models_dbt_would(sql_dir: Path, case: str) -> None:
    selectors, expected = CASES[case]
    assert picked(sql_dir, *selectors)[0] == expected


def test_no_selector_is_everything_in_build_order(sql_dir: Path) -> None:
    models, audits = picked(sql_dir)
    assert models == [m.qualified_name for m in discover(sql_dir, RAW)]
    assert len(models) == 7
    assert audits == ["assert_lonely_is_one", "assert_report_has_rows"]


def test_exclude_removes_what_its_selectors_match(sql_dir: Path) -> None:
    assert picked(sql_dir, "+joined", exclude=("staging.*", "right_side")) == (
        ["intermediate.left_side", "intermediate.joined"],
        [],
    )
    assert picked(sql_dir, exclude=("base+", "other.*"))[0] == ["staging.lonely"]


def test_audits_come_with_the_models_they_read_or_by_name(sql_dir: Path) -> None:
    assert picked(sql_dir, "report") == (["reporting.report"], ["assert_report_has_rows"])
    assert picked(sql_dir, "joined") == (["intermediate.joined"], [])
    # an audit named alone selects no model; `+audit` builds what it reads
    assert picked(sql_dir, "assert_lonely_is_one") == ([], ["assert_lonely_is_one"])
    assert picked(sql_dir, "+audits.assert_lonely_is_one") == (
        ["staging.lonely"],
        ["assert_lonely_is_one"],
    )
    assert picked(sql_dir, "audits.*")[1] == ["assert_lonely_is_one", "assert_report_has_rows"]
    assert picked(sql_dir, "report", exclude=("assert_report_has_rows",)) == (
        ["reporting.report"],
        [],
    )


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("jioned", "no model or audit matches 'jioned'; did you mean intermediate.joined?"),
        (
            "intermediate.jioned",
            "no model or audit matches 'intermediate.jioned'; did you mean intermediate.joined?",
        ),
        ("reportin.*", "no model or audit matches 'reportin.*'; did you mean reporting.*?"),
        ("zzz", "no model or audit matches 'zzz' (apptsync ls lists them)"),
        (
            "a,b",
            "selector 'a,b' is not one of name, schema.name, schema.*, +name, name+ (several"
            " selectors: separate them with spaces)",
        ),
    ],
    ids=["typo", "typo-qualified", "typo-schema", "nothing-close", "intersection"],
)
def test_a_selector_matching_nothing_is_one_line_with_the_close_match(
    sql_dir: Path, selector: str, message: str
) -> None:
    with pytest.raises(SelectionError) as raised:
        picked(sql_dir, selector)
    assert str(raised.value) == message
    assert raised.value.exit_code == 2


def test_a_name_in_two_schemas_asks_for_the_schema(tmp_path: Path) -> None:
    sql_dir = write_models(
        tmp_path, {"staging/twin": "select 1 as a", "reporting/twin": "select 2 as a"}
    )
    with pytest.raises(SelectionError, match=r"reporting.twin, staging.twin\): use schema.name"):
        picked(sql_dir, "twin")
    assert picked(sql_dir, "reporting.twin")[0] == ["reporting.twin"]


# a selected build


def test_a_selected_build_on_an_empty_warehouse_builds_the_missing_upstream_too(
    sql_dir: Path, client: SqlClientBase[Any]
) -> None:
    assert build_models(client, select="joined", sql_dir=sql_dir, declared=RAW) == [
        "staging.base",
        "intermediate.left_side",
        "intermediate.right_side",
        "intermediate.joined",
    ]
    assert query(client, "select count(*) from intermediate.joined") == [(0,)]


def test_a_selected_build_rebuilds_only_the_named_view_when_its_upstream_exists(
    tmp_path: Path, sql_dir: Path, client: SqlClientBase[Any]
) -> None:
    build_models(client, sql_dir=sql_dir, declared=RAW)
    # both files change; only the selected one is rebuilt, over the upstream view as it is
    write_models(
        tmp_path,
        {
            "intermediate/left_side": "select n + 100 as n from staging.base",
            "reporting/report": "select count(*) + 1000 as c from intermediate.joined",
        },
    )
    assert build_models(client, select="report", sql_dir=sql_dir, declared=RAW) == [
        "reporting.report"
    ]
    assert query(client, "select c from reporting.report") == [(1000,)]
    assert "100" not in view_definition(client, "intermediate", "left_side")

    assert build_models(client, select="base+", sql_dir=sql_dir, declared=RAW) == [
        "staging.base",
        "intermediate.left_side",
        "intermediate.right_side",
        "intermediate.joined",
        "reporting.report",
    ]
    assert "100" in view_definition(client, "intermediate", "left_side")


def test_a_missing_upstream_that_is_excluded_is_an_error_naming_it(
    sql_dir: Path, client: SqlClientBase[Any]
) -> None:
    build_models(client, sql_dir=sql_dir, declared=RAW)
    client.execute_sql("drop view intermediate.joined cascade")  # Postgres drops report too
    with pytest.raises(ModelError) as raised:
        build_models(client, select="report", exclude="joined", sql_dir=sql_dir, declared=RAW)
    assert str(raised.value) == (
        "reporting.report reads intermediate.joined, which has no view in this warehouse and"
        " is excluded: build it first, or leave it out of --exclude"
    )
    assert build_models(client, select="report", sql_dir=sql_dir, declared=RAW) == [
        "intermediate.joined",
        "reporting.report",
    ]


# severities


def test_an_audit_s_severity_comes_from_its_header_and_defaults_to_error(sql_dir: Path) -> None:
    audits = {audit.name: audit for audit in discover_audits(sql_dir, RAW)}
    assert audits["assert_lonely_is_one"].severity == "warn"
    assert audits["assert_lonely_is_one"].description == "lonely is one."
    assert audits["assert_report_has_rows"].severity == "error"


@pytest.mark.parametrize("value", ["fatal", ""])
def test_an_unknown_severity_is_a_model_error_naming_the_file(tmp_path: Path, value: str) -> None:
    sql_dir = write_models(
        tmp_path,
        {"staging/t": "select 1 as a", "audits/assert_t": f"-- severity: {value}\nselect 1"},
    )
    with pytest.raises(ModelError) as raised:
        discover_audits(sql_dir)
    assert str(raised.value) == (
        f"sql/audits/assert_t.sql: severity {value!r} is not one of error, warn"
    )
    assert raised.value.paths == (sql_dir / "audits" / "assert_t.sql",)


def test_a_warn_audit_that_finds_rows_warns_and_fails_nothing(
    tmp_path: Path, client: SqlClientBase[Any]
) -> None:
    sql_dir = write_models(
        tmp_path,
        {**GRAPH, "staging/lonely": "select 2 as one"},  # breaks the warn audit only
    )
    build_models(client, sql_dir=sql_dir, declared=RAW)
    results = run_audits(client, sql_dir=sql_dir, declared=RAW)
    assert [(r.name, r.severity, r.failing_count) for r in results] == [
        ("assert_lonely_is_one", "warn", 1),
        ("assert_report_has_rows", "error", 0),
    ]
    assert not any_failed(results)
    assert format_audit_report(results).splitlines() == [
        "WARN  assert_lonely_is_one: 1 row breaks the rule (severity warn)",
        "      lonely is one.",
        "      one",
        "      ---",
        "      2  ",
        "PASS  assert_report_has_rows",
        "1 of 2 audits passed, 1 warning.",
    ]


def test_the_report_counts_failures_and_warnings_apart() -> None:
    results = [
        AuditResult("assert_a", Path("a.sql"), 2, severity="error"),
        AuditResult("assert_b", Path("b.sql"), 1, severity="warn"),
        AuditResult("assert_c", Path("c.sql"), 0),
    ]
    assert any_failed(results)
    assert format_audit_report(results).splitlines()[-1] == "1 of 3 audits failed, 1 warning."
