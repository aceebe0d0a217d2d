"""Headless Chromium for the UI's screenshots and browser tests: Debian's `chromium`
(scripts/setup_browser.sh installs it) driven by Playwright, which downloads no browser of its
own. The flags keep it off the network it would otherwise keep trying to reach."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from mlops.core.errors import BuildError

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--no-sandbox",  # runs as root here
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT = {"width": 1400, "height": 1000}


@contextlib.contextmanager
def chromium() -> Iterator:
    """A Playwright Browser on Debian's Chromium."""
    if not CHROMIUM.is_file():
        raise BuildError(f"{CHROMIUM}: not installed; run scripts/setup_browser.sh (make setup)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=list(FLAGS))
        try:
            yield browser
        finally:
            browser.close()
