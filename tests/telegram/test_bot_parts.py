"""The bot's pure parts (rate limit, confirmations, the daily schedule, the day table) and
its entry point's refusals."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime

import pytest

from executor.records import Fill
from tests.telegram.conftest import REPO, TOKEN, bot_env
from trading_pipelines.telegram_bot.daily import next_summary
from trading_pipelines.telegram_bot.guard import Confirmations, Pending, RateLimiter
from trading_pipelines.telegram_bot.views import daily_rows


def test_the_rate_limit_is_a_sliding_window_per_chat() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 60, clock=lambda: now[0])
    assert limiter.allow(1) == (True, 0.0) and limiter.allow(1)[0]
    assert limiter.allow(1) == (False, 60.0)
    assert limiter.allow(2)[0]  # another chat has its own budget
    now[0] = 59.9
    assert not limiter.allow(1)[0]
    now[0] = 60.0
    assert limiter.allow(1)[0]


@pytest.mark.parametrize(("limit", "window"), [(0, 60), (1, 0), (-3, 60), (1, -1)])
def test_a_rate_limit_that_allows_nothing_is_refused(limit: int, window: float) -> None:
    with pytest.raises(ValueError, match="limit must be >= 1 and window > 0"):
        RateLimiter(limit, window)


def test_a_confirmation_code_works_once_in_its_chat_before_it_expires() -> None:
    now = [0.0]
    codes = Confirmations(60, clock=lambda: now[0])
    first = codes.ask(7, "close-all", None, "why", "telegram:7")
    assert len(first.code) == 6 and first.code.isdigit()
    assert isinstance(codes.take(8, first.code), str)  # not this chat's
    taken = codes.take(7, f" {first.code} ")
    assert isinstance(taken, Pending) and taken.command == "close-all"
    assert "no pending command" in str(codes.take(7, first.code))
    late = codes.ask(7, "pause", None, "why", "telegram:7")
    now[0] = 60.5
    assert "expired after 60 s" in str(codes.take(7, late.code))
    assert "no pending command" in str(codes.take(7, "x" * 500))  # echoed short


def test_the_next_summary_is_strictly_after_now() -> None:
    at = datetime(2026, 12, 1, 0, 5)
    assert next_summary(datetime(2026, 12, 1, 0, 4, 59), "00:05") == at
    assert next_summary(at, "00:05") == datetime(2026, 12, 2, 0, 5)
    assert next_summary(datetime(2026, 12, 31, 23, 0), "22:30") == datetime(2027, 1, 1, 22, 30)


def test_the_day_table_counts_quote_fees_only() -> None:
    day = datetime(2026, 11, 30, 12)
    fills = [
        Fill("sim", "a", "BTC/USDT", "buy", 0.01, 50_000.0, 0.5, "USDT", "taker", day),
        Fill("sim", "b", "BTC/USDT", "sell", 0.01, 51_000.0, 0.00001, "BTC", "maker", day),
    ]
    (row,) = daily_rows(fills, "USDT").values()
    assert row == {"fills": 2, "bought": 500.0, "sold": 510.0, "fees": 0.5, "net": 9.5}
    assert list(daily_rows(fills, "USDT")) == [date(2026, 11, 30)]


def run_bot(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trading_pipelines.telegram_bot"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_a_token_the_bot_exits_0_saying_it_is_not_configured(tmp_path) -> None:
    env = bot_env(tmp_path, "http://127.0.0.1:9")
    del env["TRADING_TELEGRAM_TOKEN"]
    done = run_bot(env)
    assert done.returncode == 0
    assert "not configured (TRADING_TELEGRAM_TOKEN is not set)" in done.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"TRADING_TELEGRAM_TOKEN": "bad token with spaces"}, "TRADING_TELEGRAM_TOKEN contains"),
        ({"TRADING_TELEGRAM_CHAT_IDS": None}, "alerts.telegram_chat_ids (env TRADING_TELEGRAM_"),
        ({"TRADING_TELEGRAM_CHAT_IDS": "5,5"}, "duplicate chat ids [5]"),
    ],
)
def test_a_bad_bot_configuration_exits_2_naming_it(tmp_path, change, message) -> None:
    env = bot_env(tmp_path, "http://127.0.0.1:9")
    for key, value in change.items():
        if value is None:
            env.pop(key)
        else:
            env[key] = value
    done = run_bot(env)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "bad token with spaces" not in done.stderr and TOKEN not in done.stderr


def test_status_shows_the_operator_overrides_in_force() -> None:
    from trading_pipelines.telegram_bot.views import status_text

    status = {
        "trading_state": "ACTIVE",
        "account": {"quote": "USDT", "equity": 1000.0, "open_positions": 0},
        "overrides": {
            "risk": {"scale": 0.5, "risk_per_trade": None, "by": "telegram:7"},
            "blacklist": {"DOGE/USDT": {}, "ADA/USDT": {}},
            "paused_instances": {"b": {}},
        },
    }
    text = status_text(status, datetime(2026, 12, 1))
    assert "Risk override: x0.5 by telegram:7" in text
    assert "Blacklist: ADA/USDT, DOGE/USDT" in text and "Paused instances: b" in text
    status["overrides"] = {"risk": {"scale": None, "risk_per_trade": 0.005, "by": "ops"},
                           "blacklist": {}, "paused_instances": {}}  # fmt: skip
    assert "Risk override: 0.50% per trade by ops" in status_text(status, datetime(2026, 12, 1))
    assert "Blacklist" not in status_text(status, datetime(2026, 12, 1))
