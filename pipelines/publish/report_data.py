"""The numbers behind each chart of `apptsync report`, read from the reporting models.

Why a module of its own: the report's charts only draw; every figure comes from a model in
`sql/reporting/` (documented in docs/reporting.md) through one small query here, so a chart
never computes a business rule the models do not already hold. Each function returns plain
rows (dicts of JSON-ready values) for one chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import duckdb

from pipelines.publish import freshness
from pipelines.publish.reading import records

DAILY_DAYS = 180
TOP_EMPLOYEES = 20
TOP_QUESTIONS = 12
ANSWERS_PER_QUESTION = 8
RUNS_PER_SOURCE = 20

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class ReportData:
    """Every chart's rows, plus the facts the page's header shows."""

    daily: Rows
    weekly_no_show: Rows
    lead_time_days: Rows
    lead_time_percentiles: Rows
    employee_workload: Rows
    answers: Rows
    runs: Rows
    freshness: Rows
    quarantine: Rows
    totals: Rows
    runs_from: str


def collect(con: duckdb.DuckDBPyConnection, now: datetime | None = None) -> ReportData:
    """Read every chart's rows in the connection's one snapshot."""
    now = now or datetime.now(UTC)
    return ReportData(
        daily=_rows(con, DAILY, DAILY_DAYS),
        weekly_no_show=_rows(con, WEEKLY_NO_SHOW),
        lead_time_days=_rows(con, LEAD_TIME_DAYS),
        lead_time_percentiles=_rows(con, LEAD_TIME_PERCENTILES),
        employee_workload=_rows(con, EMPLOYEE_WORKLOAD, TOP_EMPLOYEES),
        answers=_rows(con, ANSWERS, TOP_QUESTIONS, ANSWERS_PER_QUESTION),
        runs=[_json_ready(vars(run)) for run in freshness.recent_runs(con, RUNS_PER_SOURCE)],
        freshness=_freshness_rows(con, now),
        quarantine=_quarantine_rows(con),
        totals=_rows(con, TOTALS),
        runs_from="ledger" if freshness.has_ledger(con) else "dlt_loads",
    )


DAILY = """
select appointment_date, source, status, sum(appointment_count) as appointments
from reporting.rpt_daily_appointments
where appointment_date > (
    select max(appointment_date) - ? from reporting.rpt_daily_appointments
)
group by all
order by appointment_date, source, status
"""

WEEKLY_NO_SHOW = """
select
    week_start,
    source,
    sum(no_show_count) as no_shows,
    sum(completed_count + no_show_count) as concluded,
    round(sum(no_show_count) / sum(completed_count + no_show_count), 4) as no_show_rate,
from reporting.rpt_weekly_no_show_rate
where week_start is not null
group by all
having sum(completed_count + no_show_count) > 0
order by week_start, source
"""

LEAD_TIME_DAYS = """
select
    source,
    cast(floor(lead_time_hours / 24) as integer) as lead_time_days,
    count(*) as appointments,
from reporting.fct_appointments
where not is_deleted and lead_time_hours is not null
group by all
order by lead_time_days, source
"""

LEAD_TIME_PERCENTILES = """
select
    source || ' · ' || coalesce(meeting_type, 'all') as segment,
    source,
    appointment_count,
    round(lead_time_hours_p25 / 24, 1) as p25_days,
    round(lead_time_hours_p50 / 24, 1) as p50_days,
    round(lead_time_hours_p75 / 24, 1) as p75_days,
    round(lead_time_hours_p90 / 24, 1) as p90_days,
from reporting.rpt_lead_time
order by source, meeting_type
"""

EMPLOYEE_WORKLOAD = """
select
    source || ' · ' || employee_id as employee,
    source,
    sum(appointment_count) as appointments,
    sum(booked_hours) as booked_hours,
    sum(no_show_count) as no_shows,
from reporting.rpt_employee_workload
where employee_id is not null
group by all
order by appointments desc, employee
limit ?
"""

ANSWERS = """
with questions as (
    select question_id, max(question_answer_count) as answers
    from reporting.rpt_answer_distribution
    group by all
    order by answers desc, question_id
    limit ?
),
ranked as (
    select
        distribution.question_id,
        coalesce(distribution.answer_value, distribution.answer_option_id, '(empty)') as answer,
        distribution.answer_count,
        distribution.answer_share,
        row_number() over (
            partition by distribution.question_id
            order by distribution.answer_count desc, answer
        ) as answer_rank,
    from reporting.rpt_answer_distribution as distribution
    inner join questions on questions.question_id = distribution.question_id
)
select question_id, answer, answer_count, answer_share
from ranked
where answer_rank <= ?
order by question_id, answer_count desc, answer
"""

TOTALS = """
select source, count(*) filter (where not is_deleted) as appointments,
    count(*) filter (where is_deleted) as deleted
from reporting.fct_appointments
group by all
order by source
"""


def _freshness_rows(con: duckdb.DuckDBPyConnection, now: datetime) -> Rows:
    rows = []
    for entry in freshness.source_freshness(con):
        row = entry.as_dict()
        last = datetime.fromisoformat(entry.last_load_at) if entry.last_load_at else None
        row["hours_since_last_load"] = (
            round((now - last).total_seconds() / 3600, 2) if last else None
        )
        rows.append(row)
    return rows


def _quarantine_rows(con: duckdb.DuckDBPyConnection) -> Rows:
    """Quarantined records per source and reason; a source with none shows a zero, so the
    chart names every source."""
    rows = freshness.quarantine_by_reason(con)
    seen = {row["source"] for row in rows}
    rows += [
        {"source": entry.source, "reason": "none", "records": 0}
        for entry in freshness.source_freshness(con)
        if entry.source not in seen
    ]
    return [_json_ready(row) for row in rows]


def _rows(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> Rows:
    return [_json_ready(row) for row in records(con, sql, params)]


def _json_ready(row: dict[str, Any]) -> dict[str, Any]:
    """Dates as ISO text (Vega reads them as UTC), decimals as floats."""
    ready = {}
    for key, value in row.items():
        if isinstance(value, datetime | date):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = float(value)
        ready[key] = value
    return ready
