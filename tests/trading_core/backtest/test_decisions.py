"""``decision_signals``: every bar decides on the bars live had at its close (real BTCUSDT
candles with a pending spike that a later, unheld bar decides around)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_core.backtest import BacktestConfig, run_backtest
from trading_core.backtest.data import hold_spikes, read_ohlcv_csv
from trading_core.backtest.decisions import VISIBLE_FROM, decision_signals, may_decide
from trading_core.quality.spike_policy import SpikePolicy
from trading_core.strategies import get_strategy


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    return read_ohlcv_csv(shared_data / "market" / "binance_BTCUSDT_1h.csv").head(400)


def pending_then_confirmed(btc: pd.DataFrame) -> pd.DataFrame:
    """Bar 200 jumps +0.30 in log (a candidate); bar 201 is +0.16 from bar 199 (no candidate,
    nearer bar 200 than bar 199: no reversal), so it decides while bar 200 is pending; the
    real bars after it, 0.30 higher, confirm the new level (3 confirming bars)."""
    bars = btc.copy()
    prices = ["open", "high", "low", "close"]
    base = float(bars.loc[199, "close"])
    bars.loc[200:, prices] *= math.exp(0.30)
    bars.loc[200, "close"] = base * math.exp(0.30)
    bars.loc[201, prices] = base * math.exp(0.16)
    return bars


def history_sensitive():
    """Swing with a stop at the mean close of the last three bars it has: a row shows
    which bars its history held."""
    swing = get_strategy("swing", {})

    class Sensitive(type(swing)):  # type: ignore[misc]
        def signals(self, frame: pd.DataFrame) -> pd.DataFrame:
            out = super().signals(frame)
            out["stop_loss"] = frame["close"].rolling(3).mean().to_numpy()
            return out

    return Sensitive(swing.params)


def test_a_bar_deciding_while_another_is_held_decides_without_it(btc: pd.DataFrame) -> None:
    bars = hold_spikes(pending_then_confirmed(btc), SpikePolicy(confirm_bars=3))
    assert len(bars) == len(btc)
    late = list(bars.index[bars[VISIBLE_FROM] != bars["ts"]])
    assert late == [200]
    assert bars.loc[200, VISIBLE_FROM] == bars.loc[203, "ts"]  # 201, 202, 203 confirm it
    strategy = history_sensitive()
    got = decision_signals(strategy, bars)
    prices = bars.drop(columns=VISIBLE_FROM)
    full = strategy.signals(prices)
    # the held bar: no entry, no exit
    assert not got.loc[200, "entry"] and not got.loc[200, "exit"]
    assert list(may_decide(bars)).count(False) == 1
    # bars 201 and 202 decide while bar 200 is pending: on the bars up to them without it
    for row in (201, 202):
        seen = prices.iloc[: row + 1].drop(index=200).reset_index(drop=True)
        pd.testing.assert_series_equal(
            got.loc[row], strategy.signals(seen).iloc[-1], check_names=False
        )
    assert not got.loc[201:202].equals(full.loc[201:202])  # bar 200 would change them
    # from bar 203's close bar 200 is history: the whole series' signals
    pd.testing.assert_frame_equal(got.iloc[203:], full.iloc[203:])
    pd.testing.assert_frame_equal(got.iloc[:200], full.iloc[:200])


def test_without_held_bars_the_signals_are_the_strategys(btc: pd.DataFrame) -> None:
    strategy = get_strategy("macd", {})
    pd.testing.assert_frame_equal(decision_signals(strategy, btc), strategy.signals(btc))
    assert may_decide(btc).all()


def test_the_engine_never_enters_on_a_held_bar(btc: pd.DataFrame) -> None:
    """A strategy that enters on every bar: the backtest's entries skip the held bar only."""
    bars = hold_spikes(pending_then_confirmed(btc), SpikePolicy(confirm_bars=3))
    strategy = get_strategy("swing", {})

    class Always(type(strategy)):  # type: ignore[misc]
        def signals(self, frame: pd.DataFrame) -> pd.DataFrame:
            out = super().signals(frame)
            out["entry"], out["exit"] = True, True
            return out

    always = Always(strategy.params)
    signals = decision_signals(always, bars)
    assert list(np.flatnonzero(~signals["entry"].to_numpy(dtype=bool))) == [200]
    config = BacktestConfig(fill="close")
    entered = set(run_backtest(bars, always, config).trades["entry_ts"])
    unmasked = set(run_backtest(bars.drop(columns=VISIBLE_FROM), always, config).trades["entry_ts"])
    assert bars.loc[200, "ts"] not in entered
    assert bars.loc[200, "ts"] in unmasked  # enter, exit, enter...: bar 200 is an entry bar


def test_the_portfolio_backtest_reads_the_configured_hold_and_the_ledger(
    tmp_path: Path, shared_data: Path
) -> None:
    """The real ADAUSDT 1h file (its 2025-03-02 15:00 spike): with five confirming bars the
    spike and the next four are held at their close; an operator release at 17:20 makes
    the bars from 17:00 on decision points and the spike history from 17:00's close."""
    from datetime import datetime

    from trading_core.config_portfolio import InstanceConfig
    from trading_core.portfolio_backtest.data import load_instances
    from trading_core.quality.releases import make_release

    lines = (shared_data / "market" / "binance_ADAUSDT_1h.csv").read_text().splitlines()
    days = ("2025-03-01", "2025-03-02", "2025-03-03")
    data = tmp_path / "data"
    data.mkdir()
    (data / "binance_ADAUSDT_1h.csv").write_text(
        "\n".join([lines[0], *(line for line in lines[1:] if line[:10] in days)]) + "\n"
    )
    instance = InstanceConfig(
        id="ada", strategy="macd", exchange="binance", symbols=["ADA/USDT"], timeframe="1h",
        allocation=1.0,
    )  # fmt: skip
    spike = pd.Timestamp("2025-03-02 15:00")
    policy = SpikePolicy(confirm_bars=5)
    held = load_instances(data, [instance], policy)[0][("ada", "ADA/USDT")]
    late = held[held[VISIBLE_FROM] != held["ts"]]
    assert list(late["ts"]) == [spike + pd.Timedelta(hours=h) for h in range(5)]
    release = make_release(
        "binance", "ADA/USDT", "1h", "2025-03-02T15:00", "ops", "real", datetime(2025, 3, 2, 17, 20)
    )
    bars = load_instances(data, [instance], policy, [release])[0][("ada", "ADA/USDT")]
    late = bars[bars[VISIBLE_FROM] != bars["ts"]]
    assert list(late["ts"]) == [spike, spike + pd.Timedelta(hours=1)]
    assert set(late[VISIBLE_FROM]) == {spike + pd.Timedelta(hours=2)}
    with pytest.raises(ValueError, match="confirm_bars"):
        SpikePolicy(confirm_bars=0)
