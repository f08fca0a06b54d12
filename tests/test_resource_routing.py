"""The side tables (`_quarantine`, `_appointment_scan`) come from their own resource.

`appointments` hands them to `appointment_side_tables` within the run; they never pass the
incremental. dlt evaluates a source's resources in turns, in an order chosen by its
configuration (`extract.next_item_mode`) and by the order of the resources: whichever it
is, every side row lands exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import orjson
import pyarrow as pa
import pytest
from dlt.extract.incremental import Incremental

from pipelines.extract.resource import (
    SIDE_RESOURCE,
    JsonRecords,
    RunContext,
    ScanIds,
    appointments_resource,
)
from pipelines.load.pipeline import make_pipeline, run_source
from pipelines.simulator import Simulator
from pipelines.sources import get_source
from pipelines.sources.pexip_engage import SPEC
from tests.test_pexip_sync import DATASET
from tests.utils import assert_ok, scalar


def count(warehouse: Path, table: str, where: str = "true") -> int:
    return scalar(warehouse, f"select count(*) from {DATASET}.{table} where {where}")


def test_quarantine_and_scan_rows_land_beside_the_appointments(pexip: Simulator, warehouse: Path):
    ids = pexip.pexip.ids()
    pexip.pexip.update([ids[1]], drop=("id",))
    pexip.pexip.update([ids[2]], updatedAt="not-a-date")

    assert_ok(run_source(DATASET))

    total = pexip.pexip.count()
    assert count(warehouse, "_quarantine") == 2
    assert count(warehouse, "appointments") == total - 2
    assert count(warehouse, "appointments", "id is null") == 0
    # The scan saw every id (the record without one has none to list), plus its marker row.
    assert count(warehouse, "_appointment_scan", "id is not null") == total - 1
    assert count(warehouse, "_appointment_scan", "id is null") == 1


@pytest.mark.parametrize("side_first", [False, True], ids=["side-last", "side-first"])
@pytest.mark.parametrize("mode", ["round_robin", "fifo"])
def test_side_tables_land_whichever_order_dlt_evaluates_the_resources(
    pexip: Simulator,
    warehouse: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    side_first: bool,
):
    monkeypatch.setenv("EXTRACT__NEXT_ITEM_MODE", mode)
    records = list(pexip.pexip.records())
    texts = [orjson.dumps(r) for r in records]
    texts[3] = b'{"no": "id"}'
    texts[40] = b'{"id": "x", "updatedAt": "not-a-date"}'

    def batches(updated: Any, ctx: RunContext) -> Iterator[JsonRecords | ScanIds]:
        for start in range(0, len(texts), 50):  # quarantine in the first and a later batch
            yield JsonRecords(pa.array([t.decode() for t in texts[start : start + 50]]))
        yield ScanIds([r["id"] for r in records])

    cursor: Incremental[Any] = dlt.sources.incremental(
        "updatedAt", on_cursor_value_missing="include"
    )
    resources = appointments_resource(SPEC, batches, cursor, 0)
    if side_first:
        resources.reverse()

    @dlt.source(name=DATASET, max_table_nesting=0)
    def source() -> list[Any]:
        return resources

    make_pipeline(DATASET).run(source(), loader_file_format="parquet")

    assert count(warehouse, "_quarantine") == 2
    assert count(warehouse, "appointments") == len(records) - 2
    assert count(warehouse, "_appointment_scan", "id is not null") == len(records)


def test_the_side_resource_alone_ends_at_once_instead_of_waiting(pexip: Simulator):
    source = get_source(DATASET).factory().with_resources(SIDE_RESOURCE)

    assert list(source) == []
    assert pexip.request_count("pexip") == 0
