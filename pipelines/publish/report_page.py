"""The report's HTML page: one file holding the charting library, each chart's spec and data.

Why a module of its own: what makes the page self-contained lives here — the bundle of
Vega, Vega-Lite and vega-embed inlined once, script text that cannot end its <script>
element early, and a Content-Security-Policy (`default-src 'none'`) under which the
browser itself refuses any request the page might try.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.publish.report_data import ReportData


@dataclass(frozen=True)
class Chart:
    """One chart of the page: its anchor, title, caption and Vega-Lite spec."""

    key: str
    title: str
    caption: str
    spec: dict[str, Any]
    rows: int
    """Rows behind the chart; a chart without any says so instead of drawing empty axes."""


def render_page(charts: list[Chart], data: ReportData, database: Path | str, bundle: str) -> str:
    """The HTML page: the bundle once, then each chart's section and spec."""
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    specs = {chart.key: chart.spec for chart in charts if chart.rows}
    sections = "\n".join(_section(chart) for chart in charts)
    return PAGE.format(
        generated=html.escape(generated),
        database=html.escape(str(database)),
        totals=_totals_table(data),
        sections=sections,
        bundle=_script_safe(bundle),
        specs=json.dumps(specs, default=str).replace("</", "<\\/"),
    )


def _section(chart: Chart) -> str:
    body = (
        f'<div class="chart" data-chart="{chart.key}"></div>'
        if chart.rows
        else '<p class="empty">No rows yet: sync a source that has them.</p>'
    )
    return (
        f'<section id="{chart.key}"><h2>{html.escape(chart.title)}</h2>'
        f"<p>{html.escape(chart.caption)}</p>{body}</section>"
    )


def _totals_table(data: ReportData) -> str:
    fresh = {row["source"]: row for row in data.freshness}
    body = "".join(
        "<tr>"
        f"<td>{html.escape(str(row['source']))}</td>"
        f"<td>{row['appointments']:,}</td><td>{row['deleted']:,}</td>"
        f"<td>{html.escape(str(fresh.get(row['source'], {}).get('last_load_at') or '—'))}</td>"
        f"<td>{fresh.get(row['source'], {}).get('quarantined', 0):,}</td>"
        "</tr>"
        for row in data.totals
    )
    return (
        "<table><thead><tr><th>source</th><th>appointments</th><th>deleted</th>"
        "<th>last complete load</th><th>quarantined</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _script_safe(text: str) -> str:
    """Script text that cannot close the <script> element it sits in: `</script` becomes
    `<\\/script`, the same text to JavaScript in a string, a regex or a comment."""
    return CLOSING_SCRIPT.sub(r"<\\/\1", text)


CLOSING_SCRIPT = re.compile(r"</(script)", re.IGNORECASE)


def javascript_bundle(alt: Any) -> str:
    """vega + vega-lite + vega-embed as one script, matching altair's Vega-Lite version."""
    import vl_convert

    major, minor = str(alt.SCHEMA_VERSION).lstrip("v").split(".")[:2]
    bundle = vl_convert.javascript_bundle  # its stub wrongly requires a snippet
    return str(bundle(vl_version=f"v{major}_{minor}"))  # type: ignore[call-arg]


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none';
 script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:">
<title>apptsync report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }}
h1 {{ margin-bottom: 0; }} h2 {{ margin: 32px 0 4px; }}
section > p, header p {{ color: #555; margin: 0 0 8px; }}
table {{ border-collapse: collapse; margin: 12px 0; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 4px 12px; text-align: left; }}
.chart .error, .empty {{ color: #b00; }}
</style></head>
<body>
<header><h1>apptsync report</h1>
<p>Generated {generated} from <code>{database}</code>.</p>
{totals}
</header>
{sections}
<script>{bundle}</script>
<script>
const specs = {specs};
for (const element of document.querySelectorAll(".chart")) {{
  vegaEmbed(element, specs[element.dataset.chart], {{renderer: "svg", actions: false}})
    .then(() => {{ element.dataset.rendered = "true"; }})
    .catch((error) => {{
      element.dataset.rendered = "error";
      element.textContent = "chart failed: " + error;
      console.error(error);
    }});
}}
</script>
</body></html>
"""
