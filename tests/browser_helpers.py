"""Headless Chromium for the report test: Debian's /usr/bin/chromium driven by Playwright.

Playwright never downloads a browser here: it launches the system Chromium
(`executable_path`) with the flags that keep it off the network (no background
networking, component updates, sync or QUIC) and a fresh profile folder per run.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # a name that slips through resolves nowhere
]


def browser_missing() -> str | None:
    """Why the browser test cannot run here, or None when it can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is missing (pip install -e '.[dev]')"
    return None


@dataclass
class PageVisit:
    """What a page did while it loaded: every request it tried, and every error it logged."""

    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@contextmanager
def offline_page(viewport: tuple[int, int] = (1200, 900)) -> Iterator[tuple[Any, PageVisit]]:
    """A Chromium page whose every non-file request is aborted and recorded."""
    from playwright.sync_api import sync_playwright

    visit = PageVisit()
    profile = tempfile.mkdtemp(prefix="apptsync-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_FLAGS,
                viewport={"width": viewport[0], "height": viewport[1]},
                offline=True,
            )
            context.on("request", lambda request: visit.requests.append(request.url))

            def only_files(route: Any) -> None:
                if route.request.url.startswith("file://"):
                    route.continue_()
                else:
                    visit.blocked.append(route.request.url)
                    route.abort()

            context.route("**/*", only_files)
            page = context.new_page()
            page.on(
                "console",
                lambda message: (
                    visit.console_errors.append(message.text) if message.type == "error" else None
                ),
            )
            page.on("pageerror", lambda error: visit.console_errors.append(str(error)))
            try:
                yield page, visit
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
