"""Webhook settings: checked once, shared by the receiver and the events-first sync.

Why one dataclass: the receiver (`apptsync webhooks serve`) and the sync read the same keys
under `sources.<source>` (the spool folder, the envelope paths); both build their settings
here, so a bad value fails the same way, naming the key, before any request or delivery.
The defaults below are the only place they are spelled; the source's signature uses them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt

from pipelines.config import ConfigError, require_choice, require_text
from pipelines.redaction import redactor

HMAC_SHA256 = "hmac-sha256"
SHARED_SECRET = "shared-secret"
SIGNATURE_SCHEMES = (HMAC_SHA256, SHARED_SECRET)

DEFAULT_SIGNATURE = HMAC_SHA256
DEFAULT_SIGNATURE_HEADER = "X-Signature"
DEFAULT_FULL_SCAN_EVERY = "6h"
DEFAULT_EVENT_ID_PATH = "id"
DEFAULT_EVENT_TYPE_PATH = "type"
DEFAULT_EVENT_DATA_PATH = "data"
SPOOL_FOLDER = "webhooks"  # under dlt's data folder: <DLT_DATA_DIR>/webhooks/<source>

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_HEADER = re.compile(r"^[A-Za-z0-9-]+$")


@dataclass(frozen=True)
class WebhookSettings:
    """What the receiver and the sync need to agree on."""

    enabled: bool
    secret: str | None
    signature: str
    signature_header: str
    spool_dir: Path
    full_scan_every_seconds: float
    id_path: tuple[str, ...]
    type_path: tuple[str, ...]
    data_path: tuple[str, ...]


def webhook_settings(
    section: str,
    *,
    webhooks: Any = False,
    webhook_secret: Any = None,
    webhook_signature: Any = DEFAULT_SIGNATURE,
    webhook_signature_header: Any = DEFAULT_SIGNATURE_HEADER,
    webhook_spool_dir: Any = None,
    full_scan_every: Any = DEFAULT_FULL_SCAN_EVERY,
    webhook_event_id_path: Any = DEFAULT_EVENT_ID_PATH,
    webhook_event_type_path: Any = DEFAULT_EVENT_TYPE_PATH,
    webhook_event_data_path: Any = DEFAULT_EVENT_DATA_PATH,
    whole_collection: bool = True,
) -> WebhookSettings:
    """Checked settings of `section` (e.g. `sources.pexip_engage`); ConfigError names the key.
    `whole_collection` is false when the source's scans are filtered or windowed."""
    if not isinstance(webhooks, bool):
        raise ConfigError(f"{section}.webhooks", f"must be true or false, got {webhooks!r}")
    if webhooks and not whole_collection:
        raise ConfigError(
            f"{section}.webhooks",
            "needs the whole collection: events cannot be filtered like a scan "
            "(remove filters, window_from and window_to)",
        )
    secret = None
    if webhook_secret is not None and str(webhook_secret) != "":
        secret = require_text(f"{section}.webhook_secret", str(webhook_secret))
        redactor.add(secret)
    header = require_text(f"{section}.webhook_signature_header", webhook_signature_header)
    if not _HEADER.match(header):
        raise ConfigError(
            f"{section}.webhook_signature_header", f"is not a header name: {header!r}"
        )
    return WebhookSettings(
        enabled=webhooks,
        secret=secret,
        signature=require_choice(
            f"{section}.webhook_signature", webhook_signature, SIGNATURE_SCHEMES
        ),
        signature_header=header,
        spool_dir=spool_dir(section, webhook_spool_dir),
        full_scan_every_seconds=parse_duration(f"{section}.full_scan_every", full_scan_every),
        id_path=envelope_path(f"{section}.webhook_event_id_path", webhook_event_id_path),
        type_path=envelope_path(f"{section}.webhook_event_type_path", webhook_event_type_path),
        data_path=envelope_path(f"{section}.webhook_event_data_path", webhook_event_data_path),
    )


def configured_webhook_settings(section: str) -> WebhookSettings:
    """The settings as dlt's providers have them (config.toml, secrets.toml, environment):
    for the receiver, which runs without building the source."""
    values: dict[str, Any] = {}
    for name in (
        "webhooks",
        "webhook_signature",
        "webhook_signature_header",
        "webhook_spool_dir",
        "full_scan_every",
        "webhook_event_id_path",
        "webhook_event_type_path",
        "webhook_event_data_path",
    ):
        value: Any = dlt.config.get(f"{section}.{name}")
        if value is not None:
            values[name] = value
    if isinstance(values.get("webhooks"), str):
        values["webhooks"] = {"true": True, "false": False}.get(
            values["webhooks"].strip().lower(), values["webhooks"]
        )
    secret: Any = dlt.secrets.get(f"{section}.webhook_secret")
    return webhook_settings(section, webhook_secret=secret, **values)


def parse_duration(key: str, value: Any) -> float:
    """`6h`, `30m`, `90s`, `1d` or a number of seconds."""
    match = _DURATION.match(str(value)) if not isinstance(value, bool) else None
    if match is None:
        raise ConfigError(key, f"must be a duration such as 6h, 30m or 90s, got {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


def envelope_path(key: str, value: Any) -> tuple[str, ...]:
    """A dotted path into the delivery's JSON object, e.g. `payload.appointment`."""
    text = require_text(key, value)
    parts = tuple(text.split("."))
    if any(not part.strip() for part in parts):
        raise ConfigError(
            key, f"must be a dotted path such as data or payload.appointment, got {text!r}"
        )
    return parts


def spool_dir(section: str, configured: Any) -> Path:
    """The configured folder, else `<dlt data folder>/webhooks/<source>`: the spool is
    working state like dlt's pending load packages, and the receiver, which must never open
    the warehouse, needs no warehouse setting to find it."""
    if configured is not None and str(configured).strip():
        return Path(str(configured)).expanduser().resolve()
    source = section.rsplit(".", 1)[-1]
    return Path(dlt.current.run_context().data_dir).resolve() / SPOOL_FOLDER / source
