"""Which warehouse a pipeline's dlt working folder belongs to.

Why: dlt keeps each pipeline's state, the cursor included, in its working folder under the
pipeline's name. Two projects that share one `DLT_DATA_DIR` (`~/.dlt`, or `/var/dlt` as
root) share the pipelines `pexip_engage` and `valomnia`, and dlt cannot tell them apart: a
second warehouse whose own state is older than the folder's starts from the other project's
cursor and skips rows it never got, and packages one run left pending are loaded into
whichever warehouse runs next. So the folder records the warehouse it syncs into, and a
sync into another one stops before its first request, naming both."""

from __future__ import annotations

import json
import os
from pathlib import Path

from dlt.pipeline.pipeline import Pipeline

from pipelines.destinations import configured_destination

MARKER = "apptsync_warehouse.json"
"""In the pipeline's working folder, beside dlt's `state.json`."""


class WorkingFolderTaken(RuntimeError):
    """The dlt working folder holds the state of a sync into another warehouse."""


def claim_working_folder(pipeline: Pipeline) -> None:
    """Record the configured warehouse in `pipeline`'s working folder, or refuse when the
    folder already records another one. A folder without a record (a first run, or one
    written before apptsync kept it) is claimed as it is."""
    destination = configured_destination()
    wanted = {"destination": destination.name, "warehouse": destination.identity()}
    marker = Path(pipeline.working_dir) / MARKER
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        recorded = None
    if recorded == wanted:
        return
    if recorded is not None:
        raise WorkingFolderTaken(
            f"the dlt folder {pipeline.working_dir} holds the sync state of "
            f"{recorded.get('destination')} warehouse {recorded.get('warehouse')}, not of "
            f"{wanted['destination']} warehouse {wanted['warehouse']}: another project "
            f"shares DLT_DATA_DIR ({pipeline.pipelines_dir}); give each project its own "
            f"DLT_DATA_DIR, or, if this warehouse was moved there, delete {marker}"
        )
    marker.parent.mkdir(parents=True, exist_ok=True)
    written = marker.with_name(f".{MARKER}.{os.getpid()}.tmp")  # one per writer
    written.write_text(json.dumps(wanted) + "\n", encoding="utf-8")
    os.replace(written, marker)
