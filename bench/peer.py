"""The peer: dlt's own `rest_api` source, configured the way its docs show, nothing tuned.

Why: the question a reader asks is "why not just configure rest_api?". This is that
configuration against the same simulator: bearer token fetched once, offset paginator with
`limit` and `meta.totalCount`, `data_selector: data`, merge on `id`. `peer` keeps dlt's
default loader file format (insert-values on DuckDB); `peer_parquet` only adds
`loader_file_format="parquet"`.
"""

from __future__ import annotations

import time
from typing import Any

import dlt
from dlt.sources.rest_api import rest_api_source
from sim import PEXIP_APPOINTMENTS


def peer_source(url: str, token: str, page_size: int, max_records: int | None) -> Any:
    paginator: dict[str, Any] = {
        "type": "offset",
        "limit": page_size,
        "offset_param": "offset",
        "limit_param": "limit",
        "total_path": "meta.totalCount",
    }
    if max_records is not None:
        # only to measure at a smaller N when the full N would take too long
        paginator["maximum_offset"] = max_records
    return rest_api_source(
        {
            "client": {
                "base_url": url,
                "auth": {"type": "bearer", "token": token},
                "paginator": paginator,
            },
            "resource_defaults": {"write_disposition": "merge", "primary_key": "id"},
            "resources": [
                {
                    "name": "appointments",
                    "endpoint": {"path": PEXIP_APPOINTMENTS.lstrip("/"), "data_selector": "data"},
                }
            ],
        },
        name="pexip_engage_peer",
    )


def run_peer(
    url: str,
    token: str,
    page_size: int,
    database: str,
    parquet: bool,
    max_records: int | None = None,
    postgres: str | None = None,
) -> dict[str, Any]:
    """Into the DuckDB file `database`, or into the Postgres database at the URL `postgres`."""
    destination = (
        dlt.destinations.postgres(credentials=postgres)
        if postgres
        else dlt.destinations.duckdb(credentials=database)
    )
    pipeline = dlt.pipeline(
        pipeline_name="peer_parquet" if parquet else "peer",
        destination=destination,
        dataset_name="pexip_engage",
    )
    source = peer_source(url, token, page_size, max_records)
    # the peer's only difference from dlt's defaults is this one argument
    options = {"loader_file_format": "parquet"} if parquet else {}
    info = pipeline.run(source, **options)
    finished = time.perf_counter()  # reading the trace back below is not the peer's work
    info.raise_on_failed_jobs()
    trace = pipeline.last_trace
    counts = dict(trace.last_normalize_info.row_counts) if trace.last_normalize_info else {}
    return {
        "finished": finished,
        "rows": {t: n for t, n in sorted(counts.items()) if not t.startswith("_dlt")},
        "steps": step_seconds(pipeline),
        "step_windows": step_windows(pipeline),
    }


def step_seconds(pipeline: Any) -> dict[str, float]:
    """Seconds of each dlt step (extract, normalize, load) of the last run."""
    trace = pipeline.last_trace
    out: dict[str, float] = {}
    for step in trace.steps if trace else []:
        if step.started_at and step.finished_at and step.step != "run":
            out[step.step] = round((step.finished_at - step.started_at).total_seconds(), 3)
    return out


def step_windows(pipeline: Any) -> dict[str, tuple[float, float]]:
    """Unix start and end of each dlt step, to tell in which step the RSS peaked."""
    trace = pipeline.last_trace
    return {
        s.step: (s.started_at.timestamp(), s.finished_at.timestamp())
        for s in (trace.steps if trace else [])
        if s.started_at and s.finished_at and s.step != "run"
    }
