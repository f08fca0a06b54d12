"""Events first: simulator webhooks → receiver → spool → sync → a real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.load.pipeline import run_source
from pipelines.simulator import Simulator
from pipelines.webhooks.settings import WebhookSettings
from pipelines.webhooks.spool import DONE, READY
from tests.utils import assert_ok, rows, scalar
from tests.webhook_helpers import (
    DATASET,
    FAST_RETRIES,
    SECRET,
    assert_warehouse_is_the_api,
    configure_webhooks,
    envelope,
    post,
    receiver,
)


@pytest.fixture
def hooks(pexip: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> WebhookSettings:
    """Webhooks on, and a first sync done (it is a full scan: none is on record)."""
    settings = configure_webhooks(pexip, monkeypatch, tmp_path / "spool")
    assert_ok(run_source(DATASET))
    pexip.reset_counters()
    return settings


def sync(full_scan: bool = False) -> object:
    return assert_ok(run_source(DATASET, full_scan=full_scan))


def test_an_events_only_sync_makes_no_request_and_lands_every_change(
    pexip: Simulator, hooks: WebhookSettings, warehouse: Path
):
    ids = pexip.pexip.ids()
    with receiver(hooks) as url:
        sender = pexip.send_webhooks(url, secret=SECRET, **FAST_RETRIES)
        pexip.pexip.tick(5)
        pexip.pexip.update(ids[:10])
        pexip.pexip.update(ids[3:5], answers=[])
        created = pexip.pexip.insert(4)
        assert sender.wait_idle()
    assert sender.dropped == []

    result = sync()

    assert pexip.request_count("pexip") == 0
    assert result.rows["appointments"] == 14  # 10 updated (2 twice: newest wins), 4 created
    assert_warehouse_is_the_api(pexip, warehouse)
    assert set(created) <= {r[0] for r in rows(warehouse, f"select id from {DATASET}.appointments")}
    assert list((hooks.spool_dir / READY).iterdir()) == []
    assert len(list((hooks.spool_dir / DONE).iterdir())) == 1
