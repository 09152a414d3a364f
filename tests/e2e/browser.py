"""A real browser (Debian's Chromium, driven by Playwright) looking at the Dagster UI.

Chromium comes from Debian (``make test`` installs it when it may; ``.ci/run`` too). Without
it a browser test fails saying what to install: it is never skipped (``tests/conftest.py``
fails the run if one is). Dagster's "Join the Dagster community" dialog, shown in a fresh
browser profile on localhost, is dismissed before any page script runs (the UI's own
localStorage key, ``communityNux``), and clicked away should it appear anyway.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
INSTALL_HINT = (
    "Chromium is not installed ({path}): the browser tests need Debian's chromium. "
    "Install it with `sudo apt-get install chromium` (or run `make test` as root or with "
    "passwordless sudo, which installs it)"
)
# What CommunityNux.tsx stores when the user clicks Skip (useStateWithStorage: JSON values).
DISMISS_COMMUNITY_NUX = "window.localStorage.setItem('communityNux', JSON.stringify('1'));"


def require_chromium() -> str:
    """The Chromium executable, or a failed test naming what to install."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(INSTALL_HINT.format(path=CHROMIUM), pytrace=False)
    return CHROMIUM


def community_dialog(page: Page) -> Locator:
    return page.get_by_role("dialog").filter(has_text="Join the Dagster community")


def _skip_community_dialog(dialog: Locator) -> None:
    dialog.get_by_role("button", name="Skip").click()


@contextmanager
def browser_page() -> Iterator[Page]:
    executable = require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1500, "height": 1000})
            context.add_init_script(DISMISS_COMMUNITY_NUX)
            page = context.new_page()
            dialog = community_dialog(page)
            page.add_locator_handler(dialog, lambda: _skip_community_dialog(dialog))
            yield page
        finally:
            browser.close()


def open_asset(page: Page, base_url: str, key: str, screenshot: Path) -> str:
    """The text of an asset's page once it shows its latest materialization."""
    page.goto(f"{base_url}/assets/{key}")
    page.get_by_text("Latest materialization").first.wait_for(timeout=60_000)
    page.get_by_text("Metadata").first.wait_for(timeout=30_000)
    if community_dialog(page).count():  # never over a screenshot
        _skip_community_dialog(community_dialog(page))
    page.screenshot(path=str(screenshot))
    return page.inner_text("body")
