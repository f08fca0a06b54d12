"""Checks on injected settings, so bad config fails before the first request, naming the key."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pendulum


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
