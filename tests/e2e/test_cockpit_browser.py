"""The web cockpit in a real browser (Debian's Chromium through Playwright): every page
rendered with data from a real ledger and warehouse snapshot, a screenshot of each kept as
an artifact (the test's tmp dir and .artifacts/cockpit/), an instance paused from its row
on the Instances page (an operator override) and pause clicked on the Actions page, each
applied by a running paper executor."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from executor.ledger import Ledger
from tests.cockpit.ledger_data import instance_fill, populate
from tests.cockpit.signal_data import build_warehouse
from tests.conftest import REPO_ROOT
from tests.e2e.browser import browser_page
from tests.e2e.conftest import _stop, executor_process, free_port, wait_for
from trading_pipelines.cockpit.snapshot import snapshot_path, write_snapshot

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.browser]

TOKEN = "browser-test-token-9f3c2a"
ARTIFACTS = REPO_ROOT / ".artifacts" / "cockpit"
PAGES = [
    ("overview", "/", "#equity-chart"),
    ("instances", "/instances", "#instances"),
    ("positions", "/positions", "#positions"),
    ("trades", "/trades", "#trades"),
    ("signals", "/signals", "#signals"),
    ("actions", "/actions", "#do-pause"),
]


@contextmanager
def cockpit_server(env: dict[str, str], log: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "trading_pipelines.cockpit", "--port", str(port)],
            cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:

            def up() -> bool:
                if process.poll() is not None:
                    raise RuntimeError(f"the cockpit exited: {log.read_text()[-2000:]}")
                try:
                    return httpx.get(f"{url}/api/v1/status", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(up, 90, "the cockpit to answer")
            yield url
        finally:
            _stop(process)


def test_every_page_renders_with_data_and_pause_is_applied_by_the_executor(
    trading_home: Path, shared_data: Path, tmp_path: Path
) -> None:
    ledger = Ledger(f"sqlite:///{trading_home / 'ledger.sqlite'}")
    plan = populate(ledger, 21, 2)
    # A position of an instance no longer configured: its row must still show.
    ledger.record_fills([instance_fill("ETH/USDT", "buy", 0.05, 3_000.0, 0.0, plan[-1]["at"],
                                       "old", "old-1")])  # fmt: skip
    warehouse = tmp_path / "warehouse.duckdb"  # stands in for the one Dagster writes
    build_warehouse(warehouse, shared_data / "market")
    import duckdb

    with duckdb.connect(str(warehouse)) as conn:
        write_snapshot(conn, snapshot_path(trading_home))
    (trading_home / "alerts.jsonl").write_text(
        '{"at": "2026-12-01T09:00:00", "severity": "warning", "title": "drawdown stage 1", '
        '"message": "equity 4 % below its peak"}\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_")}
    env.update(TRADING_HOME=str(trading_home), TRADING_MARKET_SOURCE="sim",
               TRADING_SYMBOLS="BTC/USDT,ETH/USDT")  # fmt: skip
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with (
        executor_process(env, tmp_path / "executor.log", "--tick-seconds", "0.5",
                         "--no-dagster-report"),
        cockpit_server({**env, "TRADING_COCKPIT_TOKEN": TOKEN}, tmp_path / "cockpit.log") as url,
        browser_page() as page,
    ):  # fmt: skip
        wait_for(lambda: httpx.get(f"{url}/api/v1/status").json()["instances"][0]["status"]
                 == "running", 60, "the executor's heartbeat")  # fmt: skip
        for name, path, selector in PAGES:
            page.goto(f"{url}{path}")
            page.locator(selector).first.wait_for(timeout=30_000)
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
            text = page.inner_text("body")
            assert "Trading cockpit" in text and TOKEN not in page.content()
            if name == "overview":
                assert "ACTIVE" in text and "drawdown stage 1" in text
                assert page.locator("svg.chart polyline").count() == 2
            if name == "instances":
                assert "macd" in text and "running" in text
                rows = page.locator("#instances tbody tr")
                assert rows.count() == 2 and "not configured" in rows.nth(1).inner_text()
                assert "old" in rows.nth(1).inner_text()
            if name == "trades":
                assert plan[-1]["why"] in text
            if name == "signals":
                assert "BTC/USDT" in text and ("trend_up" in text or "trend_down" in text)
        # The operator pauses instance default from its row: an override the engine applies.
        page.goto(f"{url}/instances")
        page.fill("#token", TOKEN)
        page.fill("#reason", "pause the instance from the browser test")
        page.click("#pause-instance-default")
        page.locator("#result", has_text="recorded").wait_for(timeout=15_000)

        def applied_override() -> object:
            command = ledger.commands(limit=5)[0]
            return command.applied_at is not None and command

        override = wait_for(applied_override, 30, "the executor to apply pause-instance")
        assert (override.command, override.who) == ("pause-instance", "cockpit:web")
        assert override.args == {"instance": "default", "source": "cockpit"}
        assert not override.result.startswith("refused"), override.result
        assert "default" in json.loads(ledger.operator_overrides() or "{}")["paused_instances"]
        page.goto(f"{url}/instances")
        page.locator("#resume-instance-default").wait_for(timeout=10_000)
        assert "paused" in page.locator("#instances tbody tr").first.inner_text()
        page.screenshot(path=str(shots / "instances-after-pause.png"), full_page=True)
        page.goto(url)
        page.locator("#overrides", has_text="Paused instance default").wait_for(timeout=10_000)
        # The operator pauses from the actions page.
        page.goto(f"{url}/actions")
        page.fill("#token", TOKEN)
        page.fill("#reason", "pause from the browser test")
        page.click("#do-pause")
        page.locator("#result", has_text="recorded").wait_for(timeout=15_000)

        def applied() -> object:
            command = ledger.commands(limit=5)[0]
            return command.command == "pause" and command.applied_at is not None and command

        command = wait_for(applied, 30, "the executor to apply the pause")
        assert (command.command, command.who) == ("pause", "cockpit:web")
        assert ledger.trading_state() == "REDUCING"
        page.goto(f"{url}/actions")
        page.locator("#commands").wait_for(timeout=10_000)
        assert "REDUCING" in page.inner_text("#trading-state")
        page.screenshot(path=str(shots / "actions-after-pause.png"), full_page=True)
        # A wrong token typed in the UI is refused and changes nothing.
        page.fill("#token", "not-the-token-1234")
        page.click("#do-resume")
        page.locator("#result", has_text="refused (403)").wait_for(timeout=15_000)
        assert ledger.trading_state() == "REDUCING" and len(ledger.commands()) == 2
    ledger.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for shot in shots.glob("*.png"):
        shutil.copy2(shot, ARTIFACTS / shot.name)
    assert {p.stem for p in shots.glob("*.png")} == {n for n, _, _ in PAGES} | {
        "actions-after-pause",
        "instances-after-pause",
    }
