"""Every cockpit page renders the ledger's data as HTML (the browser test looks at them too),
and ``python -m trading_pipelines.cockpit`` / ``trading cockpit`` serve them for real."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from executor.ledger import Ledger
from tests.cockpit.conftest import AUTH, TOKEN
from tests.conftest import REPO_ROOT
from tests.e2e.conftest import free_port


def test_the_overview_shows_state_equity_drawdown_pnl_and_alerts(
    client: TestClient, ledger: Ledger
) -> None:
    html = client.get("/").text
    assert 'id="trading-state">ACTIVE<' in html
    assert f"{ledger.account('USDT').equity:,.2f}" in html
    assert html.count("<polyline") == 2  # equity and drawdown charts
    assert 'id="equity-chart"' in html and 'id="dd-chart"' in html
    assert "Today&#x27;s P&amp;L" in html or "Today's P&amp;L" in html
    assert "stalled" in html and "drawdown" in html and "1 unreadable line" in html


def test_instances_positions_and_trades_pages(client: TestClient, plan: list[dict]) -> None:
    instances = client.get("/instances").text
    assert "default" in instances and "macd" in instances and "BTC/USDT, ETH/USDT" in instances
    assert f"BTC/USDT {plan[-1]['quantity']:.8g}" in instances and "never started" in instances
    positions = client.get("/positions").text
    assert 'id="positions"' in positions and "BTC/USDT" in positions
    trades = client.get("/trades").text
    assert trades.count("<tr>") == len(plan) + 1  # header + every trade (fewer than 100)
    assert plan[-1]["why"] in trades and plan[0]["why"] in trades


def test_the_actions_page_offers_every_action_and_lists_commands(
    client: TestClient,
) -> None:
    client.post("/api/v1/control/pause", json={"reason": "lunch <b>break</b>"}, headers=AUTH)
    html = client.get("/actions").text
    for action in ("pause", "resume", "close-all", "halt", "close-position"):
        assert f'data-action="{action}"' in html
    assert "<option>BTC/USDT</option>" in html
    assert "lunch &lt;b&gt;break&lt;/b&gt;" in html  # escaped, never markup
    assert TOKEN not in html and 'type="password"' in html


def test_an_empty_ledger_renders_every_page(trading_home: Path) -> None:
    from tests.cockpit.conftest import make_client

    with make_client() as c:
        for url in ("/", "/instances", "/positions", "/trades", "/signals", "/actions"):
            response = c.get(url)
            assert response.status_code == 200 and "<h1>" in response.text, url
        assert "No open positions." in c.get("/positions").text
        assert "no data yet" in c.get("/").text


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_")}
    return {**env, "TRADING_HOME": str(home), **extra}


@pytest.mark.integration
@pytest.mark.parametrize(
    "command",
    [[sys.executable, "-m", "trading_pipelines.cockpit"],
     [str(Path(sys.executable).parent / "trading"), "cockpit"]],
    ids=["module", "cli"],
)  # fmt: skip
def test_the_server_answers_on_loopback(trading_home: Path, plan, command: list[str]) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*command, "--port", str(port)], cwd=REPO_ROOT, env=_env(trading_home),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/v1/status", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "the cockpit did not start"
                time.sleep(0.3)
        assert response.status_code == 200 and response.json()["trading_state"] == "ACTIVE"
        assert "server" not in response.headers
        refused = httpx.post(f"http://127.0.0.1:{port}/api/v1/control/pause", timeout=5)
        assert refused.status_code == 403  # no token in this environment: read-only
    finally:
        process.terminate()
        process.communicate(timeout=20)


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [(["--host", "0.0.0.0"], {}, "allow_remote_bind"), (["--port", "0"], {}, "port"),
     ([], {"TRADING_COCKPIT_TOKEN": "short"}, "TRADING_COCKPIT_TOKEN"),
     ([], {"TRADING_COCKPIT_PORT": "http"}, "TRADING_COCKPIT_PORT")],
)  # fmt: skip
def test_a_bad_setting_is_one_line_and_exit_2(
    trading_home: Path, args: list[str], env: dict[str, str], words: str
) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "trading_pipelines.cockpit", *args], cwd=REPO_ROOT,
        env=_env(trading_home, **env), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert process.returncode == 2, process.stderr
    assert words in process.stderr and "Traceback" not in process.stderr
    assert "short" not in process.stderr.replace("TRADING_COCKPIT_TOKEN", "")
