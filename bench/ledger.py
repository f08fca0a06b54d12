"""What the sync recorded about itself: its row in the run ledger (`ops.sync_runs`).

Why read it beside the simulator's count: the simulator counts what reached it, the ledger
what the sync says it sent; the two must agree, and the ledger is what production has.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from pipelines.ops.ledger import QUALIFIED

COLUMNS = ("requests", "retries", "drift_passes", "api_total", "rows_loaded", "seconds")


def ledger_row(warehouse: Path, source: str) -> dict[str, Any] | None:
    """The ledger's row of the source's latest run (requests exclude tokens and logins)."""
    if not warehouse.exists():
        return None
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute(
            f"select {', '.join(COLUMNS)} from {QUALIFIED} where source = ? "
            "order by finished_at desc limit 1",
            [source],
        ).fetchone()
    return dict(zip(COLUMNS, row, strict=True)) if row else None
