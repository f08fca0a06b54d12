"""Credentials and limits of one simulator instance.

Why one frozen object: both API modules and the CLI banner read the same values, and a
simulator's credentials never change while it runs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    enterprise: str = "acme"
    client_id: str = "apptsync"
    client_secret: str = "pexip-secret"
    username: str = "sync@acme.test"
    password: str = "valomnia-secret"
    token_ttl_seconds: float = 3600
    max_limit: int = 1000
    over_limit: str = "clamp"  # or "reject": a Pexip `limit` above max_limit is a 400
    session_expiry: str = "redirect"  # or "401": Valomnia's answer without a valid session

    def __post_init__(self) -> None:
        if self.session_expiry not in ("redirect", "401"):
            raise ValueError("session_expiry must be 'redirect' or '401'")
        if self.over_limit not in ("clamp", "reject"):
            raise ValueError("over_limit must be 'clamp' or 'reject'")
        if self.max_limit < 1:
            raise ValueError("max_limit must be at least 1")
