"""`apptsync report`: one self-contained HTML page of charts over the reporting models.

Why Vega-Lite (through altair) with the JavaScript inlined by vl-convert: the page must
open from a file with no network, so the charting library travels inside it. vl-convert
ships Vega, Vega-Lite and vega-embed as one bundle (~0.9 MB, once per page, whatever the
number of charts), the charts are declarative JSON specs built in Python (checked by
altair's schema), and Vega draws them as SVG, which a browser test can count. Plotly would
inline ~4.6 MB per page for the same charts.

The page never asks for anything: data are inlined in each spec, vega-embed's action links
(which open an online editor) are off, and no font or stylesheet is fetched.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.publish.reading import open_reader, reader_database
from pipelines.publish.report_data import DAILY_DAYS, ReportData, collect
from pipelines.publish.report_page import Chart, javascript_bundle, render_page
from pipelines.sources import SOURCES


class ReportError(Exception):
    """The report cannot be written (the message says why)."""


def write_report(output: str | Path, database: str | Path | None = None) -> Path:
    """Write the report for the reader's warehouse to `output` (atomically) and return it."""
    alt = _altair()
    source = reader_database(database)
    with open_reader(source) as con:
        data = collect(con)
    charts = build_charts(alt, data)
    page = render_page(charts, data, source, javascript_bundle(alt))
    target = Path(output).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    staged.write_text(page, encoding="utf-8")
    os.replace(staged, target)  # a browser reloading the page never sees half of it
    return target


def build_charts(alt: Any, data: ReportData) -> list[Chart]:
    return [builder(alt, data) for builder in CHART_BUILDERS]


# charts

STATUS_COLORS = {
    "requested": "#9ecae1",
    "scheduled": "#3182bd",
    "completed": "#31a354",
    "cancelled": "#969696",
    "no_show": "#de2d26",
}
"""Colours of fct_appointments' status vocabulary; any other value ('unmapped', a new one)
gets a colour of its own from FALLBACK_COLORS."""
SOURCE_COLORS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#9d755d")
FALLBACK_COLORS = ("#000000", "#ff7f00", "#984ea3", "#a65628")


def _source_scale(alt: Any) -> Any:
    """One colour per registered source, the same in every chart."""
    names = list(SOURCES)
    return alt.Scale(
        domain=names, range=[SOURCE_COLORS[i % len(SOURCE_COLORS)] for i in range(len(names))]
    )


def _run_status_scale(alt: Any, rows: list[dict[str, Any]]) -> Any:
    """'ok' green, anything else (failed, a dlt load status) red."""
    statuses = sorted({str(row["status"]) for row in rows})
    colours = ["#31a354" if status == "ok" else "#de2d26" for status in statuses]
    return alt.Scale(domain=statuses, range=colours)


def _status_scale(alt: Any, rows: list[dict[str, Any]]) -> Any:
    statuses = sorted({str(row["status"]) for row in rows})
    others = iter(FALLBACK_COLORS * len(statuses))
    colours = [STATUS_COLORS.get(status) or next(others) for status in statuses]
    return alt.Scale(domain=statuses, range=colours)


def _daily(alt: Any, data: ReportData) -> Chart:
    spec = (
        alt.Chart(alt.Data(values=data.daily))
        .mark_bar()
        .encode(
            x=alt.X("utcyearmonthdate(appointment_date):T", title="day (UTC)"),
            y=alt.Y("sum(appointments):Q", title="appointments"),
            color=alt.Color("status:N", scale=_status_scale(alt, data.daily)),
            row=alt.Row("source:N", title=None),
            tooltip=["appointment_date:T", "source:N", "status:N", "appointments:Q"],
        )
        .properties(width=820, height=150)
    )
    return Chart(
        "daily",
        "Appointments per day, by source and status",
        f"reporting.rpt_daily_appointments, the {DAILY_DAYS} days up to the latest "
        "appointment (scheduled ones included); deleted appointments and those without a "
        "start are left out.",
        spec.to_dict(),
        len(data.daily),
    )


def _weekly_no_show(alt: Any, data: ReportData) -> Chart:
    spec = (
        alt.Chart(alt.Data(values=data.weekly_no_show))
        .mark_line(point=True)
        .encode(
            x=alt.X("week_start:T", title="week (Monday, UTC)"),
            y=alt.Y("no_show_rate:Q", title="no-show rate", axis=alt.Axis(format="%")),
            color=alt.Color("source:N", scale=_source_scale(alt)),
            tooltip=["week_start:T", "source:N", "no_shows:Q", "concluded:Q", "no_show_rate:Q"],
        )
        .properties(width=820, height=220)
    )
    return Chart(
        "no_show",
        "Weekly no-show rate",
        "reporting.rpt_weekly_no_show_rate: no-shows / (completed + no-shows), all offices; "
        "weeks with no concluded appointment are left out. A source that records no "
        "no-shows stays at 0.",
        spec.to_dict(),
        len(data.weekly_no_show),
    )


def _lead_time(alt: Any, data: ReportData) -> Chart:
    histogram = (
        alt.Chart(alt.Data(values=data.lead_time_days))
        .mark_bar()
        .encode(
            x=alt.X("lead_time_days:Q", bin=alt.Bin(step=7), title="lead time (days)"),
            y=alt.Y("sum(appointments):Q", title="appointments"),
            color=alt.Color("source:N", scale=_source_scale(alt)),
            tooltip=["source:N", "sum(appointments):Q"],
        )
        .properties(width=500, height=220, title="booking to start, per week of lead time")
    )
    base = alt.Chart(alt.Data(values=data.lead_time_percentiles)).encode(
        y=alt.Y("segment:N", title=None)
    )
    spread = base.mark_bar(opacity=0.45, height=14).encode(
        x=alt.X("p25_days:Q", title="days (p25–p75 bar, median tick, p90 dot)"),
        x2="p75_days:Q",
        color=alt.Color("source:N", scale=_source_scale(alt)),
        tooltip=["segment:N", "appointment_count:Q", "p25_days:Q", "p50_days:Q", "p75_days:Q"],
    )
    median = base.mark_tick(thickness=3, size=18, color="black").encode(x="p50_days:Q")
    p90 = base.mark_point(filled=True, color="black").encode(x="p90_days:Q")
    percentiles = alt.layer(spread, median, p90).properties(
        width=260, height=220, title="percentiles per source and meeting type"
    )
    spec = alt.hconcat(histogram, percentiles)
    return Chart(
        "lead_time",
        "Lead time distribution",
        "reporting.fct_appointments (lead_time_hours, binned) and reporting.rpt_lead_time "
        "(percentiles).",
        spec.to_dict(),
        len(data.lead_time_days) + len(data.lead_time_percentiles),
    )


def _employee_workload(alt: Any, data: ReportData) -> Chart:
    spec = (
        alt.Chart(alt.Data(values=data.employee_workload))
        .mark_bar()
        .encode(
            y=alt.Y("employee:N", sort="-x", title=None),
            x=alt.X("appointments:Q", title="appointments (all weeks)"),
            color=alt.Color("source:N", scale=_source_scale(alt)),
            tooltip=["employee:N", "appointments:Q", "booked_hours:Q", "no_shows:Q"],
        )
        .properties(width=760, height=alt.Step(16))
    )
    return Chart(
        "workload",
        "Employee workload (top 20)",
        "reporting.rpt_employee_workload summed over all weeks: the 20 primary employees "
        "with the most appointments.",
        spec.to_dict(),
        len(data.employee_workload),
    )


def _answers(alt: Any, data: ReportData) -> Chart:
    spec = (
        alt.Chart(alt.Data(values=data.answers))
        .mark_bar()
        .encode(
            y=alt.Y("answer:N", sort="-x", title=None),
            x=alt.X(
                "answer_share:Q", title="share of the question's answers", axis=alt.Axis(format="%")
            ),
            color=alt.Color("question_id:N", legend=None),
            row=alt.Row(
                "question_id:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")
            ),
            tooltip=["question_id:N", "answer:N", "answer_count:Q", "answer_share:Q"],
        )
        .properties(width=620, height=alt.Step(14))
        .resolve_scale(y="independent")
    )
    return Chart(
        "answers",
        "Answer distribution",
        "reporting.rpt_answer_distribution: the most answered questions, each answer's share "
        "(an answer selecting several options counts under each).",
        spec.to_dict(),
        len(data.answers),
    )


def _sync_health(alt: Any, data: ReportData) -> Chart:
    runs = (
        alt.Chart(alt.Data(values=data.runs))
        .mark_point(filled=True, size=90)
        .encode(
            x=alt.X(
                "at:T",
                title="run (UTC)",
                scale=alt.Scale(padding=12),
                axis=alt.Axis(format="%b %d %H:%M", labelAngle=0),
            ),
            y=alt.Y("source:N", title=None),
            color=alt.Color(
                "status:N",
                scale=_run_status_scale(alt, data.runs),
                legend=alt.Legend(orient="bottom"),
            ),
            shape=alt.Shape("status:N", legend=None),
            tooltip=["source:N", "at:T", "status:N", "origin:N"],
        )
        .properties(width=380, height=120, title="last runs")
    )
    fresh_base = alt.Chart(alt.Data(values=data.freshness)).encode(
        y=alt.Y("source:N", title=None),
        x=alt.X("hours_since_last_load:Q", title="hours since the last complete load"),
        tooltip=["source:N", "last_load_at:N", "newest_update_at:N", "loads:Q"],
    )
    fresh = alt.layer(
        fresh_base.mark_bar(color="#3182bd"),
        fresh_base.mark_text(align="left", dx=4).encode(
            text=alt.Text("hours_since_last_load:Q", format=".1f")
        ),
    ).properties(width=180, height=120, title="freshness (hours)")
    quarantine_base = alt.Chart(alt.Data(values=data.quarantine)).encode(
        y=alt.Y("source:N", title=None),
        x=alt.X("sum(records):Q", title="quarantined records"),
    )
    quarantine = alt.layer(
        quarantine_base.mark_bar().encode(
            color=alt.Color(
                "reason:N", scale=alt.Scale(scheme="dark2"), legend=alt.Legend(orient="bottom")
            ),
            tooltip=["source:N", "reason:N", "records:Q"],
        ),
        quarantine_base.mark_text(align="left", dx=4).encode(text="sum(records):Q"),
    ).properties(width=180, height=120, title="quarantine")
    spec = alt.hconcat(runs, fresh, quarantine).resolve_scale(color="independent")
    origin = (
        "the run ledger ops.sync_runs"
        if data.runs_from == "ledger"
        else "dlt's _dlt_loads (no run ledger ops.sync_runs in this warehouse yet)"
    )
    return Chart(
        "sync_health",
        "Sync health",
        f"Runs from {origin}; freshness from the last complete load; quarantined records "
        "from each source's _quarantine table.",
        spec.to_dict(),
        len(data.runs) + len(data.freshness),
    )


CHART_BUILDERS: tuple[Callable[[Any, ReportData], Chart], ...] = (
    _daily,
    _weekly_no_show,
    _lead_time,
    _employee_workload,
    _answers,
    _sync_health,
)
"""The page's charts, in page order."""


def _altair() -> Any:
    try:
        import altair
        import vl_convert  # noqa: F401
    except ImportError as ex:
        raise ReportError(
            f"the report needs the 'report' extra ({ex.name} is missing): "
            "pip install 'apptsync[report]'"
        ) from ex
    return altair
