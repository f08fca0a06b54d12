"""Secrets never reach a log line, an error or the warehouse.

Why its own module: the HTTP client, the sync, the run ledger and the command line all log or
print text built from third-party exceptions; each registers the secrets it knows and every
apptsync logger passes its records through the same filter.
"""

from __future__ import annotations

import logging
import threading

REDACTED = "***"


class SecretRedactor(logging.Filter):
    """Replaces known secret values in every log record handled by apptsync's loggers.

    Secrets should never reach a log call in the first place; this is the safety net for
    messages built from third-party exceptions.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *secrets: str | None) -> None:
        with self._lock:
            self._secrets.update(s for s in secrets if s and len(s) >= 4)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            record.msg = self.redact(record.getMessage())
            record.args = None
        return True


redactor = SecretRedactor()


def get_logger(name: str) -> logging.Logger:
    """A logger whose records pass the redactor (filters do not apply to child loggers)."""
    named = logging.getLogger(name)
    if redactor not in named.filters:
        named.addFilter(redactor)
    return named
