"""`apptsync webhooks serve`: verification, the durable spool, malformed deliveries kept."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import orjson
import pytest

from pipelines.ops.exit_codes import ExitCode
from pipelines.webhooks.settings import WebhookSettings, configured_webhook_settings
from pipelines.webhooks.spool import ACTIVE, Spool
from tests.cli_helpers import apptsync
from tests.webhook_helpers import (
    SECRET,
    SECTION,
    ReceiverProcess,
    envelope,
    post,
    receiver,
    rejected,
    spooled_ids,
    subprocess_env,
)

APPOINTMENT = {"id": "a-1", "updatedAt": "2026-03-01T10:00:00.000Z", "status": "ACCEPTED"}


def settings_from_env(
    monkeypatch: pytest.MonkeyPatch, spool: Path, **extra: str
) -> WebhookSettings:
    values = {"WEBHOOK_SPOOL_DIR": str(spool), "WEBHOOK_SECRET": SECRET, **extra}
    for key, value in values.items():
        monkeypatch.setenv(f"SOURCES__PEXIP_ENGAGE__{key}", value)
    return configured_webhook_settings(SECTION)


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> WebhookSettings:
    return settings_from_env(monkeypatch, tmp_path / "spool")


def test_a_signed_delivery_is_on_disk_when_it_is_acknowledged(hooks: WebhookSettings):
    with receiver(hooks) as url:
        assert post(url, envelope(APPOINTMENT, "evt-1", "CREATE")) == 200
        line = orjson.loads((hooks.spool_dir / ACTIVE).read_bytes())

    assert (line["id"], line["type"], line["data"]) == ("evt-1", "CREATE", APPOINTMENT)
    assert line["received_at"].endswith("Z")


@pytest.mark.parametrize(
    "signature",
    [None, "", "0" * 64, "sha256=" + "f" * 64, SECRET],
    ids=["unsigned", "empty", "wrong-hmac", "wrong-prefixed", "secret-not-hmac"],
)
def test_an_unsigned_or_wrongly_signed_delivery_gets_401_and_is_not_kept(
    hooks: WebhookSettings, signature: str | None
):
    body = envelope(APPOINTMENT, "evt-forged")
    headers = {} if signature is None else {"X-Signature": signature}
    with receiver(hooks) as url:
        answer = httpx.post(url, content=body, headers=headers)

    assert answer.status_code == 401
    assert spooled_ids(hooks.spool_dir) == []
    assert rejected(hooks.spool_dir) == []


def test_a_delivery_signed_with_another_secret_is_refused(hooks: WebhookSettings):
    with receiver(hooks) as url:
        assert post(url, envelope(APPOINTMENT, "evt-2"), secret="another-secret") == 401
        assert post(url, envelope(APPOINTMENT, "evt-3")) == 200
    assert spooled_ids(hooks.spool_dir) == ["evt-3"]


def test_a_shared_secret_header_can_stand_in_for_the_hmac(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    hooks = settings_from_env(
        monkeypatch,
        tmp_path / "spool",
        WEBHOOK_SIGNATURE="shared-secret",
        WEBHOOK_SIGNATURE_HEADER="X-Webhook-Token",
    )
    body = envelope(APPOINTMENT, "evt-4")
    with receiver(hooks) as url:
        assert httpx.post(url, content=body, headers={"X-Webhook-Token": SECRET}).status_code == 200
        assert httpx.post(url, content=body, headers={"X-Webhook-Token": "nope"}).status_code == 401
        assert httpx.post(url, content=body, headers={"X-Signature": SECRET}).status_code == 401
    assert spooled_ids(tmp_path / "spool") == ["evt-4"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (orjson.dumps({"type": "CREATE", "data": APPOINTMENT}), "no event id at id"),
        (orjson.dumps({"id": "e", "data": APPOINTMENT}), "no event type at type"),
        (orjson.dumps({"id": "e", "type": "CREATE"}), "no appointment object at data"),
        (orjson.dumps({"id": "e", "type": "CREATE", "data": [1]}), "no appointment object at data"),
    ],
    ids=["not-json", "array", "no-id", "no-type", "no-data", "data-not-object"],
)
def test_a_malformed_delivery_gets_400_and_is_kept_aside(
    hooks: WebhookSettings, body: bytes, reason: str
):
    with receiver(hooks) as url:
        assert post(url, body) == 400

    kept = rejected(hooks.spool_dir)
    assert len(kept) == 1
    assert kept[0][0] == body
    assert kept[0][1].startswith(reason)
    assert spooled_ids(hooks.spool_dir) == []


def test_envelope_paths_are_configurable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    hooks = settings_from_env(
        monkeypatch,
        tmp_path / "spool",
        WEBHOOK_EVENT_ID_PATH="meta.eventId",
        WEBHOOK_EVENT_TYPE_PATH="meta.kind",
        WEBHOOK_EVENT_DATA_PATH="payload.appointment",
    )
    body = orjson.dumps(
        {"meta": {"eventId": 42, "kind": "RESCHEDULE"}, "payload": {"appointment": APPOINTMENT}}
    )
    with receiver(hooks) as url:
        assert post(url, body) == 200
        assert post(url, envelope(APPOINTMENT, "evt-5")) == 400  # the default shape no longer fits

    line = orjson.loads((tmp_path / "spool" / ACTIVE).read_bytes())
    assert (line["id"], line["type"], line["data"]) == ("42", "RESCHEDULE", APPOINTMENT)


def test_concurrent_deliveries_each_land_as_one_whole_line(hooks: WebhookSettings):
    ids = [f"evt-{n}" for n in range(80)]
    with receiver(hooks) as url:

        def deliver(chunk: list[str]) -> None:
            for event_id in chunk:
                assert post(url, envelope(APPOINTMENT, event_id)) == 200

        threads = [threading.Thread(target=deliver, args=(ids[k::4],)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert sorted(spooled_ids(hooks.spool_dir)) == sorted(ids)


def test_a_receiver_killed_with_sigkill_and_restarted_loses_no_acknowledged_event(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    spool = tmp_path / "spool"
    settings_from_env(monkeypatch, spool)
    env = subprocess_env()
    acknowledged: list[str] = []
    first = ReceiverProcess(env).start()
    stop = threading.Event()

    def deliver_until_refused() -> None:
        n = 0
        while not stop.is_set():
            event_id = f"before-{n}"
            n += 1
            try:
                status = post(first.url, envelope(APPOINTMENT, event_id))
            except httpx.HTTPError:
                return  # the receiver is gone mid-request: not acknowledged
            if status == 200:
                acknowledged.append(event_id)

    sender = threading.Thread(target=deliver_until_refused)
    sender.start()
    while len(acknowledged) < 30:
        threading.Event().wait(0.01)
    first.kill()
    stop.set()
    sender.join()
    with (spool / ACTIVE).open("ab") as f:  # as if it had died halfway through a write
        f.write(b'{"id": "torn-never-acknowl')

    second = ReceiverProcess(env).start()
    try:
        for n in range(5):
            assert post(second.url, envelope(APPOINTMENT, f"after-{n}")) == 200
            acknowledged.append(f"after-{n}")
    finally:
        second.kill()

    spooled = spooled_ids(spool)
    assert set(acknowledged) <= set(spooled)
    assert len(spooled) == len(set(spooled))
    assert "torn-never-acknowl" not in spooled
    assert [e.event_id for e in Spool(spool).read(Spool(spool).claim())][-5:] == [
        f"after-{n}" for n in range(5)
    ]


def test_bad_receiver_settings_fail_naming_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    settings_from_env(monkeypatch, tmp_path / "spool")
    monkeypatch.setenv("SOURCES__PEXIP_ENGAGE__WEBHOOK_EVENT_TYPE_PATH", "a..b")
    done = apptsync("webhooks", "serve", "--port", "0", env=subprocess_env())
    assert done.returncode == ExitCode.USAGE  # a bad setting, as for every command
    assert "sources.pexip_engage.webhook_event_type_path" in done.stderr
    assert "SOURCES__PEXIP_ENGAGE__WEBHOOK_EVENT_TYPE_PATH" in done.stderr
    assert SECRET not in done.stderr + done.stdout
