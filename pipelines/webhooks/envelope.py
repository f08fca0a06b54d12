"""A delivery's signature and envelope: is it from the vendor, and what does it carry.

Why configurable: the vendor's signing scheme and envelope are not documented yet
(API-NOTES.md). The signature is either the hex HMAC-SHA256 of the raw body with the shared
secret (optionally prefixed `sha256=`) or the secret itself in a header; the event id, type
and appointment are found at dotted paths (`id`, `type`, `data` by default).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import orjson

from pipelines.webhooks.settings import HMAC_SHA256, WebhookSettings

DELETION_MARK = "DELETE"
"""An event whose type contains this (any case) deletes its appointment: `DELETE`,
`APPOINTMENT_DELETED`, `appointment.deleted`. A cancellation is not a deletion."""


class MalformedDelivery(ValueError):
    """The body is not a JSON object with an event id, a type and an appointment object."""


@dataclass(frozen=True)
class Delivery:
    event_id: str
    type: str
    data: dict[str, Any]


def sign(body: bytes, secret: str) -> str:
    """The hex HMAC-SHA256 of `body`: what the simulator sends and the receiver expects."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(settings: WebhookSettings, body: bytes, presented: str | None) -> bool:
    """True when no secret is configured, or the presented value matches (constant time)."""
    if settings.secret is None:
        return True
    if not presented:
        return False
    if settings.signature == HMAC_SHA256:
        expected = sign(body, settings.secret)
        given = presented.strip().lower().removeprefix("sha256=")
        return hmac.compare_digest(expected.encode(), given.encode())
    return hmac.compare_digest(settings.secret.encode(), presented.strip().encode())


def _at(document: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(document, dict):
            return None
        document = document.get(part)
    return document


def parse_delivery(settings: WebhookSettings, body: bytes) -> Delivery:
    """The event in a delivery body, or MalformedDelivery saying what is wrong."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedDelivery(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise MalformedDelivery("not a JSON object")
    event_id = _at(document, settings.id_path)
    event_type = _at(document, settings.type_path)
    data = _at(document, settings.data_path)
    if isinstance(event_id, bool) or not isinstance(event_id, str | int) or str(event_id) == "":
        raise MalformedDelivery(f"no event id at {'.'.join(settings.id_path)}")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedDelivery(f"no event type at {'.'.join(settings.type_path)}")
    if not isinstance(data, dict):
        raise MalformedDelivery(f"no appointment object at {'.'.join(settings.data_path)}")
    return Delivery(str(event_id), event_type, data)


def is_deletion(event_type: str) -> bool:
    return DELETION_MARK in event_type.upper()
