"""Where apptsync's log lines go, as text for people or as JSON for log shippers.

Why the redactor sits on the handler as well: apptsync's own loggers already pass their
records through it, but dlt's and httpx's do not, and a traceback is formatted after every
filter ran; so the handler filters each record and the formatter redacts its final text.
"""

from __future__ import annotations

import logging
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from pipelines.redaction import redactor

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(levelname)s %(name)s %(message)s %(process)d"


class RedactingJsonFormatter(JsonFormatter):
    """One JSON object per line (`level`, `logger`, `message`, `pid`, an ISO 8601 UTC
    `timestamp` and any `extra=` fields), every known secret replaced in the finished line."""

    def format(self, record: logging.LogRecord) -> str:
        return redactor.redact(super().format(record))


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redactor.redact(super().format(record))


class _ApptsyncHandler(logging.StreamHandler):
    """The handler apptsync installed (so a second set-up replaces it)."""


def setup_logging(verbose: bool = False, quiet: bool = False, log_format: str = "text") -> None:
    """Configure the root logger as `logging.basicConfig` would: only when nothing else
    (an embedding program, pytest) has configured it, or when apptsync did before."""
    root = logging.getLogger()
    if any(not isinstance(h, _ApptsyncHandler) for h in root.handlers):
        return
    for previous in list(root.handlers):
        root.removeHandler(previous)
    handler = _ApptsyncHandler()
    handler.addFilter(redactor)
    handler.setFormatter(_formatter(log_format))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO)
    for noisy in ("httpx", "httpcore", "pyrate_limiter"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        renamed: dict[str, Any] = {
            "levelname": "level",
            "name": "logger",
            "process": "pid",
        }
        return RedactingJsonFormatter(JSON_FIELDS, rename_fields=renamed, timestamp=True)
    if log_format != "text":
        raise ValueError(f"unknown log format {log_format!r} (one of {', '.join(LOG_FORMATS)})")
    return RedactingFormatter(TEXT_FORMAT)
