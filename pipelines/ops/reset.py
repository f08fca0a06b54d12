"""`apptsync reset SOURCE`: forget a source's cursor so the next sync reads it all again.

Why a command: the way to do it with dlt's CLI (`dlt pipeline NAME drop appointments
--state-only`) asks for confirmation on a terminal and does nothing in a script. This runs
the same dlt function (`dlt.pipeline.helpers.pipeline_drop`) on the same pipeline. No row is
removed: the next sync merges everything it reads, so nothing is duplicated.
"""

from __future__ import annotations

from dlt.pipeline.helpers import pipeline_drop

from pipelines.extract.resource import PARENT_TABLE
from pipelines.load.pipeline import make_pipeline
from pipelines.sources import get_source


def reset_cursor(source: str) -> None:
    """Drop the incremental state of the source's `appointments` resource (its cursor and
    its lag-window memory); the warehouse's rows stay as they are."""
    entry = get_source(source)
    pipeline_drop(make_pipeline(entry.name), resources=[PARENT_TABLE], state_only=True)()
