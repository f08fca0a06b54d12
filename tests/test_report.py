"""`apptsync report`: one HTML file that opens offline in a real browser and draws every chart."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from pipelines.publish.reading import open_reader
from pipelines.publish.report import write_report
from pipelines.publish.report_data import collect
from tests.browser_helpers import browser_missing, offline_page
from tests.cli_helpers import apptsync
from tests.report_helpers import (
    QUARANTINED_PEXIP,
    add_ledger,
    cli_env,
    copy_warehouse,
    count,
    small_warehouse,
)

ARTIFACTS = Path(__file__).parent / "artifacts"
LOAD_TIMEOUT_MS = 180_000  # a cap for a loaded CI machine, not a speed assertion
CHART_TITLES = [
    "Appointments per day, by source and status",
    "Weekly no-show rate",
    "Lead time distribution",
    "Employee workload (top 20)",
    "Answer distribution",
    "Sync health",
]
MARKS_PER_GROUP = """
element => [...element.querySelectorAll('svg g.role-mark')].map(group => ({
    mark: group.getAttribute('class').split(' ')[0],
    name: group.getAttribute('class').split(' ').pop(),
    count: group.children.length,
}))
"""


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_warehouse(tmp_path_factory)


@pytest.fixture(scope="module")
def report(synced: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    output = folder / "report.html"
    done = apptsync(
        "report",
        "-o",
        str(output),
        "--database",
        str(synced),
        env=cli_env(folder, synced),
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"report: {output}\n"
    return output


def test_report_is_one_file_that_names_nothing_to_fetch(report: Path):
    page = report.read_text(encoding="utf-8")
    markup = re.sub(r"<script>.*?</script>", "<script></script>", page, flags=re.DOTALL)

    assert markup.count("<script>") == 2  # the library, then the charts: both inline
    for tag in ("<script src", "<link", "<img", "<iframe", "@import", "url("):
        assert tag not in markup.lower()
    assert "default-src 'none'" in page  # the browser itself refuses any request
    assert page.count("window.vegaEmbed=") == 1  # the library once, inlined


def test_report_opens_offline_in_chromium_and_every_chart_draws_marks(report: Path, synced: Path):
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    with offline_page() as (page, visit):
        page.goto(report.as_uri(), timeout=LOAD_TIMEOUT_MS)
        page.wait_for_function(
            "[...document.querySelectorAll('.chart')].every(c => c.dataset.rendered)",
            timeout=LOAD_TIMEOUT_MS,
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        titles = page.locator("section h2").all_inner_texts()
        rendered = page.eval_on_selector_all(".chart", "cs => cs.map(c => c.dataset.rendered)")
        marks = {
            chart.get_attribute("data-chart"): chart.evaluate(MARKS_PER_GROUP)
            for chart in page.locator(".chart").all()
        }

    assert visit.requests == [report.as_uri()]
    assert visit.blocked == []
    assert visit.console_errors == []
    assert titles == CHART_TITLES
    assert rendered == ["true"] * len(CHART_TITLES)
    for chart, groups in marks.items():
        assert groups, f"{chart} drew no mark"
        assert all(group["count"] > 0 for group in groups), (chart, groups)
    assert (ARTIFACTS / "report.png").stat().st_size > 0

    employees = count(
        synced,
        "select count(*) from (select distinct source, employee_id "
        "from reporting.rpt_employee_workload where employee_id is not null)",
    )
    assert [g["count"] for g in marks["workload"]] == [min(20, employees)]
    daily_rows = count(
        synced,
        "select count(*) from reporting.rpt_daily_appointments where appointment_date > "
        "(select max(appointment_date) - 180 from reporting.rpt_daily_appointments)",
    )
    assert sum(g["count"] for g in marks["daily"]) == daily_rows
    health = {g["name"]: g["count"] for g in marks["sync_health"]}
    assert health["concat_0_marks"] == 2  # one load per source
    assert health["concat_2_layer_0_marks"] == 3  # pexip: two reasons; valomnia: none
    assert health["concat_2_layer_1_marks"] == 2  # one total per source


def test_report_sync_health_reads_the_run_ledger_when_there_is_one(synced: Path, tmp_path: Path):
    warehouse = copy_warehouse(synced, tmp_path)
    add_ledger(
        warehouse,
        [
            ("pexip_engage", "2026-01-01T10:00:00+00:00", "ok"),
            ("pexip_engage", "2026-01-02T10:00:00+00:00", "failed"),
            ("valomnia", "2026-01-02T09:00:00+00:00", "ok"),
        ],
    )

    with open_reader(warehouse) as con:
        data = collect(con)

    assert data.runs_from == "ledger"
    assert [(r["source"], r["status"], r["origin"]) for r in data.runs] == [
        ("pexip_engage", "ok", "ledger"),
        ("pexip_engage", "failed", "ledger"),
        ("valomnia", "ok", "ledger"),
    ]
    quarantined = {row["source"]: row["quarantined"] for row in data.freshness}
    assert quarantined == {"pexip_engage": QUARANTINED_PEXIP, "valomnia": 0}


def test_a_chart_without_rows_says_so_instead_of_drawing_empty_axes(synced: Path, tmp_path: Path):
    warehouse = copy_warehouse(synced, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from pexip_engage.appointments__answers")

    page = write_report(tmp_path / "report.html", warehouse).read_text(encoding="utf-8")

    answers = page.split('<section id="answers">', 1)[1].split("</section>", 1)[0]
    assert "No rows yet" in answers and "data-chart" not in answers
    assert page.count('class="chart"') == len(CHART_TITLES) - 1


def test_report_without_a_warehouse_fails_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["report", "-o", str(tmp_path / "report.html")]) == 2

    err = capsys.readouterr().err
    assert err.startswith("error: no warehouse at ") and err.count("\n") == 1
    assert not (tmp_path / "report.html").exists()
