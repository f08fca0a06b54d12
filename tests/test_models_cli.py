"""The SQL models from the command line, as the installed `apptsync` run from a project folder
away from the checkout: `models --select` with dbt's selectors, `ls`, `build`, audit
severities in `build` and `check`, the column documentation as comments in the working and
the published warehouse, and `status` without the scan bookkeeping."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from pipelines.models.docs import column_docs
from pipelines.simulator import Simulator
from tests.cli_helpers import CHECKOUT, apptsync, clean_env, project, simulator_env
from tests.utils import rows

FCT_DOWNSTREAM = [
    "reporting.fct_appointments",
    "reporting.dim_customers",
    "reporting.rpt_answer_distribution",
    "reporting.rpt_daily_appointments",
    "reporting.rpt_employee_workload",
    "reporting.rpt_lead_time",
    "reporting.rpt_weekly_no_show_rate",
]
LEAD_TIME_UPSTREAM = [
    "staging.stg_pexip_engage__appointment_participants",
    "staging.stg_pexip_engage__appointments",
    "staging.stg_valomnia__appointments",
    "intermediate.int_pexip_engage__primary_participants",
    "intermediate.int_appointments_unioned",
    "reporting.fct_appointments",
    "reporting.rpt_lead_time",
]
AUDITS = {
    "assert_child_rows_have_appointment": "error",
    "assert_ends_at_not_before_starts_at": "warn",
    "assert_raw_appointments_in_fct": "error",
    "assert_status_in_vocabulary": "error",
    "assert_unique_appointment_key": "error",
}

VERDICTS = ("PASS", "FAIL", "WARN")


@pytest.fixture(scope="module")
def synced_once(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """One project that synced both sources (models built, copy published), made once."""
    root = tmp_path_factory.mktemp("models_cli")
    with Simulator(appointments=80, seed=7) as sim:
        env = clean_env({**simulator_env(sim), "DLT_DATA_DIR": str(root / "dlt")})
        apptsync("sync", "-q", cwd=project(root / "project"), env=env, check=True)
        yield root, env


@pytest.fixture
def synced(synced_once: tuple[Path, dict[str, str]], tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """This test's copy of that project (its folder and its environment)."""
    root, env = synced_once
    folder = tmp_path / "project"
    shutil.copytree(root / "project", folder)
    shutil.copytree(root / "dlt", tmp_path / "dlt")
    return folder, {**env, "DLT_DATA_DIR": str(tmp_path / "dlt")}


def built(stdout: str) -> list[str]:
    """The view names `apptsync models` lists under its `models: built N views` line."""
    lines = stdout.splitlines()
    count = len(lines) - 1
    assert lines[0] == f"models: built {count} view{'' if count == 1 else 's'}"
    return [line.strip() for line in lines[1:]]


@pytest.mark.parametrize(
    ("selectors", "expected"),
    [
        (["--select", "fct_appointments+"], FCT_DOWNSTREAM),
        (["--select", "+rpt_lead_time"], LEAD_TIME_UPSTREAM),
        (["--select", "rpt_lead_time"], ["reporting.rpt_lead_time"]),
        (
            ["--select", "reporting.rpt_lead_time", "dim_customers"],
            [
                "reporting.dim_customers",
                "reporting.rpt_lead_time",
            ],
        ),
        (
            ["--select", "rpt_lead_time", "--select", "staging.stg_valomnia__contacts"],
            [
                "staging.stg_valomnia__contacts",
                "reporting.rpt_lead_time",
            ],
        ),
        (
            [
                "--select",
                "fct_appointments+",
                "--exclude",
                "dim_customers",
                "rpt_lead_time",
                "--exclude",
                "rpt_daily_appointments+",
            ],
            [
                "reporting.fct_appointments",
                "reporting.rpt_answer_distribution",
                "reporting.rpt_employee_workload",
                "reporting.rpt_weekly_no_show_rate",
            ],
        ),  # fmt: skip
    ],
    ids=["downstream", "upstream", "one", "several", "repeated", "exclude"],
)
def test_models_select_builds_what_the_selectors_name(
    synced: tuple[Path, dict[str, str]], selectors: list[str], expected: list[str]
) -> None:
    folder, env = synced
    result = apptsync("models", *selectors, cwd=folder, env=env)
    assert result.returncode == 0, result.stderr
    assert built(result.stdout) == expected


def test_a_layer_selector_builds_the_whole_layer(synced: tuple[Path, dict[str, str]]) -> None:
    folder, env = synced
    result = apptsync("models", "--select", "reporting.*", cwd=folder, env=env)
    assert result.returncode == 0, result.stderr
    names = sorted(path.stem for path in (CHECKOUT / "sql" / "reporting").glob("*.sql"))
    assert sorted(built(result.stdout)) == [f"reporting.{name}" for name in names]


def test_an_unknown_model_is_one_line_with_the_close_match_and_exit_2(
    synced: tuple[Path, dict[str, str]],
) -> None:
    folder, env = synced
    result = apptsync("models", "--select", "+rpt_lead_tme", cwd=folder, env=env)
    assert result.returncode == 2
    assert result.stderr == (
        "error: no model or audit matches '+rpt_lead_tme'; did you mean reporting.rpt_lead_time?\n"
    )
    assert result.stdout == ""


def test_a_missing_upstream_view_is_built_and_named_or_refused_when_excluded(
    synced: tuple[Path, dict[str, str]],
) -> None:
    folder, env = synced
    warehouse = folder / "apptsync.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("drop view intermediate.int_appointments_unioned")

    refused = apptsync(
        "models", "--select", "fct_appointments", "--exclude", "int_appointments_unioned",
        cwd=folder, env=env,
    )  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr == (
        "error: reporting.fct_appointments reads intermediate.int_appointments_unioned, which"
        " has no view in this warehouse and is excluded: build it first, or leave it out of"
        " --exclude\n"
    )

    result = apptsync("models", "--select", "fct_appointments", cwd=folder, env=env)
    assert result.returncode == 0, result.stderr
    assert built(result.stdout) == [
        "intermediate.int_appointments_unioned",
        "reporting.fct_appointments",
    ]
    assert (
        "building intermediate.int_appointments_unioned too: reporting.fct_appointments reads"
        " it and it has no view yet" in result.stderr
    )
    assert rows(warehouse, "select count(*) from reporting.fct_appointments") == [(160,)]


def test_ls_lists_models_with_layer_and_dependencies_and_audits_with_severity(
    tmp_path: Path,
) -> None:
    folder = project(tmp_path / "project")  # no warehouse needed
    text = apptsync("ls", "--select", "+rpt_lead_time", cwd=folder, env=clean_env())
    assert text.returncode == 0, text.stderr
    models, audits = text.stdout.rstrip("\n").split("\n\n")
    model_lines = models.splitlines()
    assert model_lines[0].split() == ["model", "layer", "depends", "on"]
    assert [line.split()[:2] for line in model_lines[1:]] == [
        [name, name.split(".")[0]] for name in LEAD_TIME_UPSTREAM
    ]
    assert model_lines[2].split()[2:] == ["pexip_engage.appointments", "(raw)"]
    assert model_lines[-1].split()[2:] == ["reporting.fct_appointments"]
    # the audits of those models (one reads a selected staging model)
    assert {line.split()[0]: line.split()[1] for line in audits.splitlines()[1:]} == AUDITS

    listed = apptsync("ls", "--output", "json", cwd=folder, env=clean_env())
    assert listed.returncode == 0, listed.stderr
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    by_name = {record["name"]: record for record in records}
    fct = by_name["reporting.fct_appointments"]
    assert fct["resource_type"] == "model"
    assert (fct["schema"], fct["layer"], fct["path"]) == (
        "reporting",
        "reporting",
        "sql/reporting/fct_appointments.sql",
    )
    assert fct["depends_on"] == {
        "models": ["intermediate.int_appointments_unioned"],
        "raw_tables": [],
    }
    assert fct["columns"]["lead_time_hours"].startswith("hours from booking (created_at)")
    assert by_name["staging.stg_valomnia__contacts"]["depends_on"] == {
        "models": [],
        "raw_tables": ["valomnia.appointments__contacts"],
    }
    assert {r["name"]: r["severity"] for r in records if r["resource_type"] == "audit"} == AUDITS
    assert len([r for r in records if r["resource_type"] == "model"]) == len(
        list((CHECKOUT / "sql").glob("[!a]*/*.sql"))
    )

    only_audits = apptsync("ls", "--resource-type", "audit", "-s", "fct_appointments",
                           "--output", "json", cwd=folder, env=clean_env())  # fmt: skip
    names = [json.loads(line)["name"] for line in only_audits.stdout.splitlines()]
    assert names == sorted(set(AUDITS) - {"assert_child_rows_have_appointment"})


def _plant(warehouse: Path, sql: str) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(sql)


ENDS_BEFORE_START = (
    'update pexip_engage.appointments set "end" = start - interval 1 hour'
    " where id = (select min(id) from pexip_engage.appointments where start is not null)"
)
UNKNOWN_STATUS = (
    "update valomnia.appointments set done = null"
    " where id = (select min(id) from valomnia.appointments)"
)


def test_a_warn_audit_warns_and_exits_0_an_error_audit_exits_1(
    synced: tuple[Path, dict[str, str]],
) -> None:
    folder, env = synced
    warehouse = folder / "apptsync.duckdb"
    _plant(warehouse, ENDS_BEFORE_START)

    build = apptsync("build", cwd=folder, env=env)
    assert build.returncode == 0, build.stderr
    lines = build.stdout.splitlines()
    assert lines[0] == "models: built 26 views"
    assert (
        "WARN  assert_ends_at_not_before_starts_at: 1 row breaks the rule (severity warn)" in lines
    )
    assert lines[-1] == "4 of 5 audits passed, 1 warning."
    check = apptsync("check", cwd=folder, env=env)
    assert check.returncode == 0
    assert check.stdout.splitlines()[-1] == "4 of 5 audits passed, 1 warning."
    quiet = apptsync("check", "-q", cwd=folder, env=env)  # cron mails nothing for a warning
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")

    _plant(warehouse, UNKNOWN_STATUS)
    failed = apptsync("build", "-q", cwd=folder, env=env)
    assert failed.returncode == 1
    assert "FAIL  assert_status_in_vocabulary: 1 row breaks the rule" in failed.stdout
    assert failed.stdout.splitlines()[-1] == "1 of 5 audits failed, 1 warning."
    assert apptsync("check", cwd=folder, env=env).returncode == 1


def test_build_with_a_selection_runs_the_audits_of_what_it_selected(
    synced: tuple[Path, dict[str, str]],
) -> None:
    folder, env = synced
    _plant(folder / "apptsync.duckdb", UNKNOWN_STATUS)

    staging = apptsync("build", "--select", "staging.stg_valomnia__contacts", cwd=folder, env=env)
    assert staging.returncode == 0, staging.stderr
    assert staging.stdout.splitlines() == [
        "models: built 1 view",
        "PASS  assert_child_rows_have_appointment",
        "1 audit passed.",
    ]
    fct = apptsync("build", "--select", "fct_appointments", cwd=folder, env=env)
    assert fct.returncode == 1
    verdicts = [line.split()[:2] for line in fct.stdout.splitlines() if line[:4] in VERDICTS]
    assert verdicts == [
        ["PASS", "assert_ends_at_not_before_starts_at"],
        ["PASS", "assert_raw_appointments_in_fct"],
        ["FAIL", "assert_status_in_vocabulary:"],
        ["PASS", "assert_unique_appointment_key"],
    ]
    one = apptsync("check", "--select", "assert_unique_appointment_key", cwd=folder, env=env)
    assert one.returncode == 0
    assert one.stdout.splitlines() == ["PASS  assert_unique_appointment_key", "1 audit passed."]


def _comments(database: Path) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for table, column, comment in rows(
        database,
        "select table_name, column_name, comment from duckdb_columns()"
        " where schema_name = 'reporting' and comment is not null",
    ):
        found.setdefault(f"reporting.{table}", {})[column] = comment
    return found


def test_every_documented_column_is_commented_in_the_working_and_the_published_file(
    synced: tuple[Path, dict[str, str]],
) -> None:
    folder, _ = synced
    documented = column_docs(CHECKOUT / "docs")
    assert len(documented) == 11
    assert documented["reporting.rpt_lead_time"]["lead_time_hours_p50"] == (
        "median lead_time_hours, rounded to 2 decimals"
    )
    for database in (folder / "apptsync.duckdb", folder / "apptsync.published.duckdb"):
        assert _comments(database) == documented, database
    published = folder / "apptsync.published.duckdb"
    # the copy stores the reporting models as tables, and their comments came along
    assert rows(
        published,
        "select table_name from duckdb_tables() where schema_name = 'reporting'"
        " and table_name = 'fct_appointments' and comment is not null",
    ) == [("fct_appointments",)]
    assert rows(
        published,
        "select comment from duckdb_columns() where schema_name = 'reporting'"
        " and table_name = 'fct_appointments' and column_name = 'status'",
    ) == [
        (
            "one vocabulary for both sources: requested, scheduled, completed, cancelled,"
            " no_show, or unmapped for a source status the mapping does not know",
        )
    ]


def test_status_leaves_the_scan_bookkeeping_out_of_its_counts(
    synced: tuple[Path, dict[str, str]],
) -> None:
    folder, env = synced
    scanned = "select count(*) from pexip_engage._appointment_scan"
    assert rows(folder / "apptsync.duckdb", scanned) == [(81,)]  # the ids and one null row
    text = apptsync("status", cwd=folder, env=env)
    assert text.returncode == 0, text.stderr
    assert "_appointment_scan" not in text.stdout
    assert "  appointments " in text.stdout
    document = json.loads(apptsync("status", "--json", cwd=folder, env=env).stdout)
    for source in ("pexip_engage", "valomnia"):
        counts = document["sources"][source]["row_counts"]
        assert counts["appointments"] == 80
        assert "_appointment_scan" not in counts
