"""A real browser (Debian's Chromium, driven by Playwright) looking at the Dagster UI."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


@contextmanager
def browser_page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser.new_page(viewport={"width": 1500, "height": 1000})
        finally:
            browser.close()


def open_asset(page: Page, base_url: str, key: str, screenshot: Path) -> str:
    """The text of an asset's page once it shows its latest materialization."""
    page.goto(f"{base_url}/assets/{key}")
    skip = page.get_by_role("button", name="Skip")  # first-visit community dialog
    page.get_by_text("Latest materialization").first.wait_for(timeout=60_000)
    if skip.count():
        skip.click()
    page.get_by_text("Metadata").first.wait_for(timeout=30_000)
    page.screenshot(path=str(screenshot))
    return page.inner_text("body")
