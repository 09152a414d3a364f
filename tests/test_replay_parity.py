"""``trading replay`` (history through the live path) against ``trading backtest`` on real data.

Every built-in strategy that runs on candles alone, with and without stops, under both fill
conventions, on Binance BTC/USDT 1h (``../shared/data/market``; a 10-day window after the
auto warm-up). The contract is identical trades and the same ``trade_hash`` bit for bit.

Both book an entry as the ledger does (``cash -= value + fee``), size it all-in
(``value + fee == notional``: the intent says so, ``OrderIntent.notional_includes_fee``, and
the executor sizes limit and market entries as the backtester does), and put default
stop / take-profit fractions on the fill price (the intent carries the fractions; the
executor applies ``position_sizing.exit_levels`` once the entry fills), so no case differs.
"""

from __future__ import annotations

import functools
import itertools
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from executor.brokers.base import OrderRejected
from executor.brokers.replay_fills import BarFillModel, BarSeries
from trading_core.backtest import BacktestConfig, read_ohlcv_csv, run_backtest
from trading_core.backtest.result import BacktestResult
from trading_core.strategies import get_strategy
from trading_pipelines.cli import main
from trading_pipelines.replay.run import run_replay

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "market"
BTC_1H = DATA / "binance_BTCUSDT_1h.csv"
HISTORY_FROM, START, END = "2023-01-01", "2023-03-01", "2023-03-11"
# composite trades a few times a year on 1h bars: its window holds one of its round trips
WINDOWS = {"composite": ("2023-02-18", "2023-02-28")}
STOPS = {"stop_loss_pct": 0.02, "take_profit_pct": 0.03, "trailing_stop_pct": 0.025}
STRATEGIES = ("macd", "swing", "scalping", "grid", "composite")
DEFAULT_LEVELS = {"macd", "swing", "grid", "composite"}  # strategies without levels of their own
CASES = list(itertools.product(STRATEGIES, (False, True), ("close", "next_open")))


def _id(case: tuple[str, bool, str]) -> str:
    name, stops, fill = case
    return f"{name}-{'stops' if stops else 'nostops'}-{fill}"


def _window(name: str) -> tuple[str, str]:
    return WINDOWS.get(name, (START, END))


@functools.cache
def _bars(name: str) -> pd.DataFrame:
    bars = read_ohlcv_csv(BTC_1H)
    end = pd.Timestamp(_window(name)[1])
    keep = (bars["ts"] >= pd.Timestamp(HISTORY_FROM)) & (bars["ts"] <= end)
    return bars[keep].reset_index(drop=True)


def _run(case: tuple[str, bool, str], engine: Any) -> Any:
    name = case[0]
    return engine(_bars(name), get_strategy(name), _config(case), trade_from=_window(name)[0])


def _config(case: tuple[str, bool, str]) -> BacktestConfig:
    _, stops, fill = case
    return BacktestConfig(fill=fill, slippage_bps=0.0, **(STOPS if stops else {}))


@functools.cache
def replayed(case: tuple[str, bool, str]) -> BacktestResult:
    return _run(case, run_replay).result


@functools.cache
def backtested(case: tuple[str, bool, str]) -> BacktestResult:
    return _run(case, run_backtest)


def _assert_same(backtest: BacktestResult, replay: BacktestResult) -> None:
    assert len(replay.trades) == len(backtest.trades)
    pd.testing.assert_frame_equal(replay.trades, backtest.trades, check_exact=True)
    assert replay.open_trade == backtest.open_trade
    assert replay.trade_hash == backtest.trade_hash
    assert replay.trade_log == backtest.trade_log


def test_the_window_trades() -> None:
    """A parity check on a window without trades would prove nothing."""
    for name in STRATEGIES:
        assert len(backtested((name, False, "close")).trades) >= (1 if name in WINDOWS else 2)


IDS = [_id(c) for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_replay_gives_the_backtests_trades_bit_for_bit(case) -> None:
    _assert_same(backtested(case), replayed(case))


def test_the_cases_exercise_what_used_to_differ() -> None:
    """Limit entries (grid: sized all-in at the limit with the maker fee) and default levels
    on a next-open fill that differs from the decision close (the level base): a parity that
    never met them would prove nothing about them."""
    assert len(backtested(("grid", False, "close")).trades) >= 2  # grid enters at limits
    moved = 0
    for name in sorted(DEFAULT_LEVELS):
        trades = backtested((name, True, "next_open")).trades
        protective = trades[trades["exit_reason"].isin(["stop_loss", "take_profit"])]
        moved += len(protective)
    assert moved >= 1


# ------------------------------------------------------------------------------ the command


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


WINDOW = ("--start", "2023-03-01", "--end", "2023-03-06")


def test_replay_json_has_the_keys_of_backtest_json(capsys) -> None:
    args = ("--ohlcv", str(BTC_1H), "--strategy", "macd", "--fee", "0.001", *WINDOW, "--json")
    status, out, _ = _cli(capsys, "backtest", *args)
    assert status == 0
    backtest = json.loads(out)
    status, out, _ = _cli(capsys, "replay", *args)
    assert status == 0
    replay = json.loads(out)
    assert sorted(replay) == sorted(backtest)
    assert isinstance(replay["trades"], list) and replay["trades"]
    assert [t["entry_ts"] for t in replay["trades"]] == [t["entry_ts"] for t in backtest["trades"]]
    assert replay["conventions"] == backtest["conventions"]
    assert replay["warmup_bars"] == backtest["warmup_bars"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ohlcv", "/no/such/file.csv", "--strategy", "macd"), "cannot read /no/such/file.csv"),
        (("--ohlcv", str(BTC_1H), "--strategy", "nope"), "unknown strategy 'nope'"),
        (("--ohlcv", str(BTC_1H), "--strategy", "macd", "--fee", "nan"), "--fee"),
        (("--ohlcv", str(BTC_1H), "--strategy", "macd", "--fee", "-0.1"), "--fee"),
        (
            ("--ohlcv", str(BTC_1H), "--strategy", "macd", "--start", "2023-03-06", "--end",
             "2023-03-01"),
            "--start 2023-03-06 is after --end 2023-03-01",
        ),
        (
            ("--ohlcv", str(BTC_1H), "--strategy", "macd", "--param", "fast=oops"),
            "fast",
        ),
        (
            ("--ohlcv", str(BTC_1H), "--strategy", "macd", *WINDOW, "--fill", "next_open",
             "--stops-from", "next"),
            "--stops-from next with --fill next_open",
        ),
    ],
    ids=["missing-file", "unknown-strategy", "nan-fee", "negative-fee", "start-after-end",
         "bad-param", "stops-from-next"],
)  # fmt: skip
def test_hostile_arguments_are_one_clear_error(capsys, args, message) -> None:
    status, out, err = _cli(capsys, "replay", *args)
    assert status == 2
    assert out == ""
    assert err.startswith("trading replay: error: ") and message in err
    assert "Traceback" not in err


# ------------------------------------------------------------------- the replay fill model


def _model(fill: str = "close", **fees: float) -> BarFillModel:
    t0 = datetime(2023, 3, 1)
    series = BarSeries(
        ts=[t0, t0 + timedelta(hours=1)],
        open=[100.0, 101.0],
        high=[102.0, 103.0],
        low=[99.0, 100.5],
        close=[101.5, 102.5],
    )
    return BarFillModel(series, "1h", fill, **fees)


def test_market_orders_fill_at_the_close_or_the_next_open_with_slippage() -> None:
    close_time = datetime(2023, 3, 1, 1)  # the first bar's close = the second bar's open
    assert _model("close").market_price("buy", close_time) == (datetime(2023, 3, 1), 101.5)
    bar, price = _model("next_open", slippage_bps=10.0).market_price("sell", close_time)
    assert (bar, price) == (close_time, 101.0 * (1 - 0.001))


def test_a_next_open_order_without_a_next_bar_is_rejected() -> None:
    with pytest.raises(OrderRejected, match="no bar opening at 2023-03-01T02:00:00"):
        _model("next_open").market_price("buy", datetime(2023, 3, 1, 2))


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"taker_fee": float("nan")}, "taker_fee"), ({"maker_fee": -0.001}, "maker_fee"),
     ({"slippage_bps": float("nan")}, "slippage_bps"), ({"fill": "vwap"}, "fill")],
)  # fmt: skip
def test_bad_fill_model_inputs_name_the_field(changes, field) -> None:
    fill = str(changes.pop("fill", "close"))
    with pytest.raises(ValueError, match=field):
        _model(fill, **changes)
