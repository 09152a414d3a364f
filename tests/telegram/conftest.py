"""The real bot process (``python -m trading_pipelines.telegram_bot``) against the fake Bot
API on 127.0.0.1, on a ledger with one open position and a few fills.

One bot per module (a start costs ~1.5 s); each test talks from its own chat id, so the
per-chat rate limit and pending confirmations of one test never touch another's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from executor.ledger import Ledger
from executor.records import Fill
from tests.fakes.telegram_api import FakeTelegramAPI
from trading_core.timeframes import utc_now

REPO = Path(__file__).resolve().parents[2]
TOKEN = "123456789:AAfakeTokenForTests_0123456789abcdef"
# Allow-listed chats, one per test that needs its own state; 999 is never allowed.
CHATS = [*range(101, 116), *range(120, 140), -1001]
RATE_LIMIT = 6
CONFIRM_SECONDS = 5
# Two instances and the risk protocol: what /setrisk scales and /blacklist checks against.
PORTFOLIO = """
strategies:
  - {id: a, strategy: macd, symbols: [BTC/USDT], timeframe: 1m, allocation: 0.5}
  - {id: b, strategy: macd, symbols: [ETH/USDT], timeframe: 1m, allocation: 0.5}
protocol:
  tiers: [{floor: 0, risk_per_trade: 0.02, max_position: 1.0, max_positions: 10}]
"""


@dataclass
class BotUnderTest:
    api: FakeTelegramAPI
    process: subprocess.Popen[str]
    home: Path
    ledger: Ledger


def bot_env(home: Path, api_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_")}
    env.update(
        TRADING_HOME=str(home),
        TRADING_MARKET_SOURCE="sim",
        TRADING_SYMBOLS="BTC/USDT,ETH/USDT",
        TRADING_TELEGRAM_TOKEN=TOKEN,
        TRADING_TELEGRAM_CHAT_IDS=",".join(str(c) for c in CHATS),
        TRADING_TELEGRAM_API_URL=api_url,
        **extra,
    )
    return env


def seed_ledger(ledger: Ledger) -> None:
    """500 USDT, then a BTC buy yesterday and a partial sell today: one open position."""
    ledger.ensure_account("sim", "USDT", 500.0)
    now = utc_now()
    fills = [
        Fill("sim", "t1", "BTC/USDT", "buy", 0.004, 50_000.0, 0.2, "USDT", "taker",
             now - timedelta(days=1)),
        Fill("sim", "t2", "BTC/USDT", "sell", 0.001, 52_000.0, 0.052, "USDT", "taker", now),
    ]  # fmt: skip
    ledger.record_fills(fills)
    ledger.mark_price("sim", "BTC/USDT", 51_000.0, 52_000.0)


def wait_polling(api: FakeTelegramAPI, process: subprocess.Popen[str], timeout: float = 90) -> None:
    """Until the bot's first getUpdates (imports take seconds on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while not any(c.method == "getUpdates" for c in api.calls):
        if process.poll() is not None:
            raise AssertionError(f"the bot exited {process.returncode}: {process.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the bot did not poll within {timeout} s")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotUnderTest]:
    home = tmp_path_factory.mktemp("telegram_home")
    config = home / "trading.yaml"
    config.write_text(
        f"alerts:\n  commands_per_minute: {RATE_LIMIT}\n  confirm_seconds: {CONFIRM_SECONDS}\n"
        + PORTFOLIO
    )
    ledger = Ledger(f"sqlite:///{home / 'ledger.sqlite'}")
    seed_ledger(ledger)
    with FakeTelegramAPI(TOKEN) as api:
        process = subprocess.Popen(
            [sys.executable, "-m", "trading_pipelines.telegram_bot"],
            cwd=REPO,
            env=bot_env(home, api.url, TRADING_CONFIG=str(config)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        under_test = BotUnderTest(api, process, home, ledger)
        try:
            wait_polling(api, process)
            yield under_test
        finally:
            process.terminate()
            try:
                process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
            ledger.close()
