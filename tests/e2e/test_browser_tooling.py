"""The browser tests' own tooling: Chromium missing is a failure naming what to install, a
skipped browser test fails the run, and Dagster's community dialog never shows."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO_ROOT
from tests.e2e import browser
from tests.e2e.conftest import dagster_webserver

SKIPPING_BROWSER_TEST = """
import pytest

@pytest.mark.browser
def test_needs_a_browser():
    pytest.skip("no chromium here")

def test_plain():
    pass
"""


def test_a_missing_chromium_fails_the_test_naming_what_to_install(monkeypatch) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", "/nonexistent/chromium")
    hint = r"sudo apt-get install chromium"
    with pytest.raises(pytest.fail.Exception, match=hint), browser.browser_page():
        pass


def run_pytest(tmp_path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-q", "-p", "no:cacheprovider",
         "-c", os.devnull, "--rootdir", str(tmp_path), str(tmp_path / "test_sample.py")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip


def test_a_skipped_browser_test_fails_the_run(tmp_path) -> None:
    result = run_pytest(tmp_path, SKIPPING_BROWSER_TEST)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "browser tests were skipped" in result.stdout
    assert "test_needs_a_browser" in result.stdout


def test_other_skips_leave_the_run_green(tmp_path) -> None:
    result = run_pytest(tmp_path, SKIPPING_BROWSER_TEST.replace("@pytest.mark.browser", ""))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.browser
def test_the_community_dialog_never_covers_the_dagster_ui(
    trading_home, tmp_path, monkeypatch
) -> None:
    from trading_pipelines.instance import prepare_dagster_home

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRADING_")},
        "TRADING_HOME": str(trading_home),
        "DAGSTER_HOME": str(trading_home / "dagster"),
    }
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    prepare_dagster_home()
    with (
        dagster_webserver(env, tmp_path / "webserver.log") as url,
        browser.browser_page() as page,
    ):
        # a plain profile shows the dialog: what the tooling must dismiss is really there
        plain = page.context.browser.new_context().new_page()
        plain.goto(f"{url}/assets")
        browser.community_dialog(plain).wait_for(timeout=60_000)
        plain.context.close()
        page.goto(f"{url}/assets")
        page.get_by_text("Assets").first.wait_for(timeout=60_000)
        time.sleep(3)  # the dialog opens one second after the UI mounts
        assert browser.community_dialog(page).count() == 0
        assert page.evaluate("window.localStorage.getItem('communityNux')") == '"1"'
        page.screenshot(path=str(tmp_path / "assets.png"))
