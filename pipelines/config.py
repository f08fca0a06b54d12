"""Checks on injected settings, so bad config fails before the first request, naming the key;
and a warning for keys no setting reads, so a typo is not silently ignored."""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dlt
import pendulum
from dlt.common.configuration.providers import EnvironProvider

from pipelines.redaction import get_logger

logger = get_logger("apptsync.config")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names its dlt config key."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        super().__init__(
            f"config key '{key}' {problem} (set it in .dlt/config.toml, .dlt/secrets.toml "
            f"or the environment variable {env_name(key)})"
        )


def env_name(key: str) -> str:
    """The environment variable dlt reads for a dotted config key."""
    return key.replace(".", "__").upper()


def require_text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, "is missing or empty")
    return value.strip()


def require_url(key: str, value: Any) -> str:
    text = require_text(key, value)
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(key, f"must be an http(s) URL, got '{text}'")
    return text.rstrip("/")


def require_int(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise ConfigError(key, f"must be an integer between {low} and {high}, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(
            key, f"must be an integer between {low} and {high}, got {value!r}"
        ) from None
    if str(number) != str(value).strip() and not isinstance(value, int):
        raise ConfigError(key, f"must be an integer between {low} and {high}, got {value!r}")
    if not low <= number <= high:
        raise ConfigError(key, f"must be between {low} and {high}, got {number}")
    return number


def require_seconds(key: str, value: Any, high: float = 86_400.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(key, f"must be a number of seconds, got {value!r}") from None
    if not 0 <= number <= high:
        raise ConfigError(key, f"must be between 0 and {high:g} seconds, got {number:g}")
    return number


def optional_datetime(key: str, value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return pendulum.instance(value)
    try:
        parsed = pendulum.parse(str(value))
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        raise ConfigError(key, f"must be an ISO 8601 date-time, got {value!r}") from None
    if not isinstance(parsed, datetime):
        raise ConfigError(key, f"must be an ISO 8601 date-time, got {value!r}")
    return parsed


def require_choice(key: str, value: Any, choices: Iterable[str]) -> str:
    allowed = sorted(choices)
    if value not in allowed:
        raise ConfigError(key, f"must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def broken_settings_file(paths: Sequence[str], fallback: str) -> str:
    """`FILE is not valid TOML: REASON` for the first of dlt's settings files that does not
    parse; dlt's own message lists every folder it looked in."""
    for path in paths:
        file = Path(path)
        if not file.is_file():
            continue
        try:
            tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            return f"{file.resolve()} is not valid TOML: {exc}"
    return fallback.strip().splitlines()[-1]


@dataclass(frozen=True)
class UnknownKey:
    """A key set under a source's section that none of its settings reads."""

    key: str  # the dotted key, e.g. sources.valomnia.backof_seconds
    origin: str  # where it was set: a file, or the environment variable
    close: list[str]  # known keys it may be a typo of

    def message(self) -> str:
        hint = f"; did you mean {' or '.join(self.close)}?" if self.close else ""
        return f"unknown config key '{self.key}' in {self.origin} is ignored{hint}"


def unknown_keys(section: str, known: Iterable[str]) -> list[UnknownKey]:
    """Keys under `section` (e.g. `sources.valomnia`) in any of dlt's config providers
    (environment, .dlt/secrets.toml, .dlt/config.toml, ...) that are not in `known`.

    Only the section itself is read: dlt's pipeline-scoped variant
    (`<pipeline>.sources.<name>.<key>`) is not checked."""
    known = sorted(known)
    parts = section.split(".")
    found: list[UnknownKey] = []
    for provider in dlt.config.config_providers:
        for key, origin in _keys_in(provider, parts):
            if key not in known:
                close = difflib.get_close_matches(key, known, n=2)
                found.append(UnknownKey(f"{section}.{key}", origin, close))
    return found


def _keys_in(provider: Any, parts: list[str]) -> Iterable[tuple[str, str]]:
    """(key, where it was set) of every key one provider holds under the section."""
    if isinstance(provider, EnvironProvider):
        # dlt reads variables by name and cannot list them; the prefix is dlt's own spelling
        prefix = provider.get_key_name("", *parts)
        for name in sorted(os.environ):
            if name.startswith(prefix) and len(name) > len(prefix):
                key = name[len(prefix) :].split("__")[0].lower()
                yield key, f"the environment variable {name}"
        return
    if not provider.supports_sections:
        return
    value, _ = provider.get_value(parts[-1], Any, None, *parts[:-1])
    if not isinstance(value, Mapping):
        return
    files = list(getattr(provider, "present_locations", []))
    locate = getattr(provider, "get_value_location", None)
    for key in value:
        # the file's path when one was read; else the provider's label for the file
        origin = files[0] if len(files) == 1 else (locate(key, None, *parts) if locate else "")
        yield str(key), origin or provider.name


def warn_unknown_keys(section: str, known: Iterable[str]) -> list[UnknownKey]:
    """One warning per key set under `section` that no setting reads (a typo would
    otherwise be ignored without a word); returns them."""
    found = unknown_keys(section, known)
    for unknown in found:
        logger.warning(unknown.message())
    return found
