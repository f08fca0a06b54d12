"""The parquet files a sync extracts already have the schema's columns, in its order.

dlt's normalize step then moves them into the load package as they are; a file that
differs (a missing column, another order) is read and written again, which cost a
quarter of a second per 100,000 appointments.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dlt.common.libs.pyarrow import should_normalize_arrow_schema

from pipelines.destinations.duckdb import DuckDbDestination
from pipelines.load.pipeline import make_pipeline
from pipelines.simulator import Simulator
from pipelines.sources import SOURCES
from tests.utils import configure_source


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_extracted_files_need_no_rewrite_in_normalize(
    source: str, simulator: Simulator, monkeypatch: pytest.MonkeyPatch, warehouse: Path
):
    configure_source(source, simulator, monkeypatch)
    pipeline = make_pipeline(source)
    pipeline.extract(
        SOURCES[source].build(), loader_file_format=DuckDbDestination.loader_file_format
    )

    extracted = Path(pipeline.working_dir, "normalize", "extracted")
    files = {path.name.split(".")[0]: path for path in extracted.rglob("*.parquet")}
    assert {"appointments", *SOURCES[source].child_tables} <= set(files)
    schema = pipeline.default_schema
    for table, path in sorted(files.items()):
        columns = schema.get_table_columns(table)
        rewrite = should_normalize_arrow_schema(pq.read_schema(path), columns, schema.naming)[0]
        assert not rewrite, f"{table}: file {pq.read_schema(path).names}, schema {list(columns)}"
