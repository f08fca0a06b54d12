"""Valomnia paging: why a growing offset loses rows, and proof that the keyset scan does not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest

from pipelines.extract.http import ApiClient
from pipelines.load.pipeline import run_source
from pipelines.simulator import Simulator
from pipelines.sources.valomnia.auth import SessionAuth
from pipelines.sources.valomnia.pages import fetch_page
from tests.test_valomnia_sync import DATASET, assert_mirrors_the_api, raw_counts
from tests.utils import assert_ok, configure_valomnia, rows

PATH = "/api/v1.0/appointments"
PAGE = 25


def keyset_order(sim: Simulator) -> list[int]:
    """Ids in the API's order for sort=lastUpdated&order=asc (ties by id)."""
    return [
        r["id"] for r in sorted(sim.valomnia.records(), key=lambda r: (r["lastUpdated"], r["id"]))
    ]


def naive_offset_scan(sim: Simulator) -> list[int]:
    """What a plain `offset += max` pager reads: the approach the source must not use."""
    auth = SessionAuth(sim.url, sim.valomnia.username, sim.valomnia.password)
    seen: list[int] = []
    with ApiClient(sim.url, auth=auth) as client:
        offset = 0
        while True:
            params = [("sort", "lastUpdated"), ("order", "asc")]
            page = fetch_page(client, PATH, params, offset, PAGE)
            seen += page.ids
            offset += PAGE
            if offset >= page.total:
                return seen


def appointment_queries(sim: Simulator) -> list[str]:
    return [e["query"] for e in sim.request_log("valomnia") if e["path"] == PATH]


def touch(sim: Simulator, *ids: int) -> None:
    """An edit in the Valomnia UI one second later: the rows move to the end of the order."""
    sim.valomnia.tick()
    sim.valomnia.update(list(ids))


def test_naive_offset_paging_skips_a_row_updated_during_paging(valomnia: Simulator):
    order = keyset_order(valomnia)
    already_read = order[3]
    valomnia.after_request("valomnia", 2, lambda: touch(valomnia, already_read))

    read = naive_offset_scan(valomnia)

    # Page 3 starts one row late: the row that was first on it is never read.
    missing = set(valomnia.valomnia.ids()) - set(read)
    assert missing == {order[2 * PAGE]}
    assert read.count(already_read) == 2  # and the moved row is read twice


def test_keyset_paging_loses_nothing_in_the_same_scenario(valomnia: Simulator, warehouse: Path):
    order = keyset_order(valomnia)
    already_read = order[3]
    valomnia.after_request("valomnia", 2, lambda: touch(valomnia, already_read))

    assert_ok(run_source(DATASET))

    assert_mirrors_the_api(valomnia, warehouse)  # order[50] is there, already_read is new
    assert rows(
        warehouse, f"select note from {DATASET}.appointments where id = ?", already_read
    ) == [("Revision 1",)]


@pytest.mark.parametrize(
    "position",
    [0, PAGE - 1, PAGE, 2 * PAGE - 1, 150],
    ids=["first-row", "last-of-page-1", "first-of-page-2", "last-of-page-2", "not-yet-read"],
)
def test_update_during_paging_loses_no_row(valomnia: Simulator, warehouse: Path, position: int):
    order = keyset_order(valomnia)
    for k, offset in ((2, 0), (3, 1), (5, 7)):
        valomnia.after_request("valomnia", k, lambda o=offset: touch(valomnia, order[position + o]))

    assert_ok(run_source(DATASET))

    assert_mirrors_the_api(valomnia, warehouse)


def test_inserts_and_updates_during_an_incremental_sync_lose_nothing(
    valomnia: Simulator, warehouse: Path
):
    assert_ok(run_source(DATASET))
    valomnia.valomnia.tick()
    valomnia.valomnia.update(valomnia.valomnia.ids()[:40])
    valomnia.reset_counters()
    valomnia.after_request("valomnia", 1, lambda: touch(valomnia, *valomnia.valomnia.ids()[2:4]))
    valomnia.after_request("valomnia", 2, lambda: valomnia.valomnia.insert(3))

    result = assert_ok(run_source(DATASET))

    # 40 updated, 2 of them updated again while paging (both versions read), 3 created
    assert result.rows["appointments"] == 40 + 2 + 3
    assert_mirrors_the_api(valomnia, warehouse)


def crowded_requests(sim: Simulator) -> list[str]:
    return [q for q in appointment_queries(sim) if "lastUpdated_lte" in q]


def test_more_rows_in_one_second_than_a_page_holds(valomnia: Simulator, warehouse: Path):
    assert_ok(run_source(DATASET))
    crowd = valomnia.valomnia.ids()[100:160]
    valomnia.valomnia.tick()
    valomnia.valomnia.update(crowd)  # 60 rows, one second, pages of 25
    valomnia.reset_counters()

    result = assert_ok(run_source(DATASET))

    assert result.rows["appointments"] == len(crowd)
    assert_mirrors_the_api(valomnia, warehouse)
    lte = crowded_requests(valomnia)
    assert [q.split("offset=")[1].split("&")[0] for q in lte] == ["0", "25", "50"]
    assert all(q.split("lastUpdated_lte=")[1][:19] in q.split("lastUpdated_gte=")[1] for q in lte)


@pytest.fixture
def crowded() -> Iterator[Simulator]:
    """Base data where many seconds hold more rows than a page (up to 79 rows a second)."""
    with Simulator(appointments=400, seed=11, ties_per_second=40) as sim:
        yield sim


def test_first_sync_of_crowded_seconds_is_exact(
    crowded: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    configure_valomnia(crowded, monkeypatch)

    assert_ok(run_source(DATASET))

    assert_mirrors_the_api(crowded, warehouse)
    assert crowded_requests(crowded)


def test_every_row_in_one_second_ends_without_looping(valomnia: Simulator, warehouse: Path):
    valomnia.valomnia.update(valomnia.valomnia.ids())  # all 300 rows share one second

    assert_ok(run_source(DATASET))

    assert_mirrors_the_api(valomnia, warehouse)
    # one keyset page, the second alone (12 pages), one keyset page after it
    assert len(appointment_queries(valomnia)) == 1 + 300 // PAGE + 1


def test_a_server_capping_max_below_the_page_size_loses_nothing(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    with Simulator(appointments=300, seed=3, ties_per_second=12, max_limit=7) as sim:
        configure_valomnia(sim, monkeypatch)
        sim.valomnia.update(sim.valomnia.ids()[30:60])

        assert_ok(run_source(DATASET))

        assert_mirrors_the_api(sim, warehouse)


def test_rows_leaving_a_crowded_second_while_it_is_paged_are_not_lost(
    valomnia: Simulator, warehouse: Path
):
    assert_ok(run_source(DATASET))
    crowd = valomnia.valomnia.ids()[100:160]
    valomnia.valomnia.tick()
    valomnia.valomnia.update(crowd)
    valomnia.reset_counters()
    # Request 3 is the crowded second's first offset page; then one of its rows moves on.
    valomnia.after_request("valomnia", 3, lambda: touch(valomnia, crowd[0]))

    assert_ok(run_source(DATASET))

    assert_mirrors_the_api(valomnia, warehouse)
    offsets = [q.split("offset=")[1].split("&")[0] for q in crowded_requests(valomnia)]
    assert offsets[:2] == ["0", "25"]
    assert offsets.count("0") == 2  # the shrinking total was noticed and the second re-paged


def test_a_second_that_keeps_shifting_fails_without_moving_the_cursor(
    valomnia: Simulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    configure_valomnia(valomnia, monkeypatch, max_repair_passes=2)
    assert_ok(run_source(DATASET))
    state_before = cursor_state()
    before = raw_counts(warehouse)
    crowd = valomnia.valomnia.ids()[100:200]
    valomnia.valomnia.tick()
    valomnia.valomnia.update(crowd)
    valomnia.reset_counters()
    leaving = iter(crowd)
    for k in range(3, 40):
        valomnia.after_request("valomnia", k, lambda: touch(valomnia, next(leaving)))

    result = run_source(DATASET)

    assert not result.ok
    assert "kept leaving" in (result.error or "")
    assert cursor_state() == state_before
    assert raw_counts(warehouse) == before


def cursor_state() -> Any:
    pipeline = dlt.attach(pipeline_name=DATASET)
    resources = pipeline.state["sources"][DATASET]["resources"]
    return resources["appointments"]["incremental"]["lastUpdated"]["last_value"]
