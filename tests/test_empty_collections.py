"""An enterprise with no appointments, an empty page, a collection that empties between
runs: normal states of a real tenant, not failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.load.pipeline import run_source
from pipelines.simulator import Simulator
from pipelines.sources import SOURCES
from tests.utils import Target, assert_ok, configure_source, scalar

API = {"pexip_engage": "pexip", "valomnia": "valomnia"}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_an_empty_collection_syncs_ok_and_lands_nothing(
    source: str, monkeypatch: pytest.MonkeyPatch, warehouse: Path
):
    with Simulator(appointments=0, seed=5) as sim:
        configure_source(source, sim, monkeypatch)
        first = assert_ok(run_source(source, reconcile=True))
        second = assert_ok(run_source(source, reconcile=True))
    assert {t: n for t, n in first.rows.items() if not t.startswith("_")} == {}
    assert second.marked_deleted == 0


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_a_collection_that_empties_between_runs_marks_every_appointment_deleted(
    source: str, monkeypatch: pytest.MonkeyPatch, target: Target
):
    with Simulator(appointments=30, seed=5) as sim:
        configure_source(source, sim, monkeypatch)
        assert_ok(run_source(source, reconcile=True))
        store = getattr(sim, API[source])
        store.delete(store.ids())
        emptied = assert_ok(run_source(source, reconcile=True))
    assert emptied.marked_deleted == 30
    assert (
        scalar(target, f"select count(*) from {source}.appointments where deleted_at is null") == 0
    )
    assert scalar(target, f"select count(*) from {source}.appointments") == 30
