"""How page bodies are split into records, and records read into typed rows or quarantined."""

from __future__ import annotations

import orjson
import pyarrow as pa
import pytest

from pipelines.extract.flatten import BatchReader, BatchResult
from pipelines.extract.http import InvalidBody
from pipelines.extract.records import PageSplitter
from pipelines.extract.resource import ResourceSpec
from pipelines.sources.pexip_engage import SPEC
from pipelines.sources.valomnia import SPEC as VALOMNIA_SPEC
from pipelines.sources.valomnia.pages import integer_id

PEXIP = PageSplitter("meta", "id", "updatedAt")
VALOMNIA = PageSplitter("paging", "id", "lastUpdated")


def read(spec: ResourceSpec, texts: list[str]) -> BatchResult:
    """One batch through a fresh reader, as the resource does."""
    reader = BatchReader(spec.schema)
    try:
        return reader.read_texts(pa.array(texts, pa.string()))
    finally:
        reader.close()


def body(*records: object, total: int = 3, limit: int = 25) -> bytes:
    return orjson.dumps({"data": list(records), "meta": {"totalCount": total, "limit": limit}})


def test_records_keep_the_exact_json_text_the_api_sent():
    raw = b'{"data": [ {"id": "a1", "updatedAt": "2026-01-01T00:00:00Z", "x": [1, 2]} ],\n'
    raw += b' "meta": {"offset": 0, "limit": 25, "totalCount": 1}}'

    page = PEXIP.split(raw)

    assert page is not None
    assert page.records == [b'{"id": "a1", "updatedAt": "2026-01-01T00:00:00Z", "x": [1, 2]}']
    assert page.envelope == {"offset": 0, "limit": 25, "totalCount": 1}
    assert (page.ids, page.cursors) == (["a1"], ["2026-01-01T00:00:00Z"])


def test_odd_records_do_not_fail_the_page():
    page = PEXIP.split(
        body(
            {"id": 7, "updatedAt": "2026-01-01T00:00:00Z"},
            {"id": "b", "updatedAt": 1767225600},
            {"updatedAt": None},
            "not an object",
            {"id": {"nested": 1}, "updatedAt": ["x"]},
            total=5,
        )
    )

    assert page is not None
    assert page.ids == [7, "b", None, None, {"nested": 1}]
    assert page.cursors == ["2026-01-01T00:00:00Z", 1767225600, None, None, ["x"]]
    assert page.records[3] == b'"not an object"'
    assert len(page.records) == 5


@pytest.mark.parametrize(
    "raw",
    [b'{"data": [{"id": "a"}], "meta": {"totalCount"', b"<html>Bad gateway</html>", b""],
    ids=["cut-off", "html", "empty"],
)
def test_a_body_that_is_not_json_is_invalid_so_the_request_is_retried(raw: bytes):
    with pytest.raises(InvalidBody):
        PEXIP.split(raw)


@pytest.mark.parametrize(
    "document",
    [{"data": []}, {"meta": {"totalCount": 1}}, {"data": None, "meta": {}}, [1, 2]],
    ids=["no-meta", "no-data", "null-data", "a-list"],
)
def test_json_without_a_data_list_and_its_envelope_is_none(document: object):
    assert PEXIP.split(orjson.dumps(document)) is None


def test_an_empty_data_list_with_its_envelope_is_an_empty_page():
    page = VALOMNIA.split(orjson.dumps({"data": [], "paging": {"total": 0}}))

    assert page is not None
    assert (page.envelope, page.records, page.ids, page.cursors) == ({"total": 0}, [], [], [])


def test_records_that_are_not_objects_are_quarantined_with_their_kind():
    texts = ['"text"', "[1, 2]", "null", '{"id": "a1", "updatedAt": "2026-01-01T00:00:00Z"}']
    result = read(SPEC, texts)

    assert result.good is not None and result.good.column("id").to_pylist() == ["a1"]
    assert [(q.record, q.reason) for q in result.quarantined] == [
        ("text", "record is a JSON varchar, not an object"),
        ([1, 2], "record is a JSON array, not an object"),
        (None, "record is a JSON null, not an object"),
    ]


def test_a_repeated_key_reads_as_its_last_value_like_every_json_parser():
    record = (
        '{"id": 5, "lastUpdated": "2026-01-01T00:00:00Z", "title": "t",'
        ' "appointmentCategoryId": 5, "appointmentCategoryId": 3}'
    )
    result = read(VALOMNIA_SPEC, [record])

    assert result.quarantined == []
    assert result.good is not None
    assert result.good.column("appointmentCategoryId").to_pylist() == [3]


def test_a_quarantined_record_keeps_the_exact_text_the_api_sent():
    sent = '{"id": 5,  "lastUpdated": "yesterday", "x": 1, "x": 2}'
    result = read(VALOMNIA_SPEC, [sent])

    assert result.good is not None and result.good.num_rows == 0
    [quarantined] = result.quarantined
    assert quarantined.raw == sent
    assert quarantined.record == {"id": 5, "lastUpdated": "yesterday", "x": 2}
    assert quarantined.reason == "unparsable date in lastUpdated: yesterday"


@pytest.mark.parametrize(
    ("sent_id", "loaded"),
    [
        ("13", 13),
        (" 14 ", 14),
        (15, 15),
        ("-7", -7),
        (1.5, None),
        ("1.5", None),
        (True, None),
        ("\u0661\u0662", None),
    ],
)
def test_an_integer_id_may_come_as_text_but_is_never_rounded(sent_id: object, loaded: int | None):
    record = {"id": sent_id, "lastUpdated": "2026-01-01T00:00:00Z"}
    result = read(VALOMNIA_SPEC, [orjson.dumps(record).decode()])

    assert result.good is not None
    assert result.good.column("id").to_pylist() == ([] if loaded is None else [loaded])
    assert integer_id(sent_id) == loaded  # the keyset reads ids by the same rule
    reasons = [q.reason for q in result.quarantined]
    assert reasons == (
        [] if loaded is not None else [f"id is not a valid bigint: {str(sent_id).lower()}"]
    )
