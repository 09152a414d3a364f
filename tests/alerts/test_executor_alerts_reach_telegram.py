"""An alert the executor process raises reaches Telegram with Dagster down: the executor
sends it itself, through the alert module, not through a Dagster sensor."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import pytest

from executor.ledger import Ledger
from tests.executor.test_process import recent_intent, start, stop, wait_for
from tests.fakes.telegram_api import FakeTelegramAPI

TOKEN = "8080:AAexecutorAlertToken"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.integration
def test_a_failing_health_file_alerts_telegram_while_dagster_is_down(tmp_path: Path) -> None:
    home = tmp_path / "home"
    # The health file's place is taken by a directory: every write of it fails, which the
    # executor alerts as critical (and keeps running).
    (home / "executor" / "health.json" / "blocker").mkdir(parents=True)
    with FakeTelegramAPI(TOKEN) as telegram:
        process = start(
            home,
            "--mode",
            "paper",
            "--tick-seconds",
            "0.2",
            TRADING_DAGSTER_URL=f"http://127.0.0.1:{closed_port()}",  # no Dagster anywhere
            TRADING_TELEGRAM_TOKEN=TOKEN,
            TRADING_TELEGRAM_CHAT_IDS="4001,4002",
            TRADING_TELEGRAM_API_URL=telegram.url,
        )
        try:
            calls = wait_for(lambda: len(telegram.sent(4002)) >= 1 and telegram.sent(4001))
            assert calls
            text = telegram.sent(4001)[0].params["text"]
            assert text.startswith("[critical] executor: writing the health file")
            assert "failing" in text
            assert process.poll() is None  # the executor keeps trading
        finally:
            _, err = stop(process, signal.SIGTERM)
    assert TOKEN not in err
    alerts = [json.loads(x) for x in (home / "alerts.jsonl").read_text().splitlines()]
    assert alerts[0]["severity"] == "critical" and "health file" in alerts[0]["title"]


@pytest.mark.integration
def test_a_trade_the_executor_makes_reaches_telegram_while_dagster_is_down(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    ledger = Ledger(f"sqlite:///{home / 'ledger.sqlite'}")
    ledger.add_intents([recent_intent(notional=100.0)])
    ledger.close()
    with FakeTelegramAPI(TOKEN) as telegram:
        process = start(
            home,
            "--mode",
            "paper",
            "--tick-seconds",
            "0.2",
            TRADING_DAGSTER_URL=f"http://127.0.0.1:{closed_port()}",
            TRADING_TELEGRAM_TOKEN=TOKEN,
            TRADING_TELEGRAM_CHAT_IDS="4001",
            TRADING_TELEGRAM_API_URL=telegram.url,
        )
        try:
            wait_for(lambda: any("trade executed" in c.params["text"] for c in telegram.sent(4001)))
        finally:
            _, err = stop(process, signal.SIGTERM)
    (text,) = [
        c.params["text"] for c in telegram.sent(4001) if "trade executed" in c.params["text"]
    ]
    assert text.startswith("[info] executor: trade executed (1 fill(s)): buy ")
    assert "BTC/USDT" in text and TOKEN not in err
