"""How tests (and scripts/screenshots.py) start headless Chromium: Debian's package driven by
Playwright, with the flags that keep it off the closed network."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def launched_chromium() -> Iterator:
    """Debian's Chromium driven by Playwright, closed afterwards; a missing Playwright skips,
    a missing Chromium skips a developer's run and fails CI."""
    from tests.conftest import skip_or_fail_without

    playwright_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        skip_or_fail_without("Debian chromium")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
