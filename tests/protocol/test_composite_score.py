"""The composite strategy gives its score to the risk protocol: the portfolio backtester reads
``scores`` for every bar, the live evaluation puts the decided bar's in ``reasons.score``
(what the losing-streak phases' thresholds compare), and the two are the same number."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from assets.strategy import evaluate_bar
from trading_core.backtest import read_ohlcv_csv
from trading_core.series import BarKey, SeriesKey
from trading_core.strategies import get_strategy

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "market"


@dataclass
class Sizing:
    name: str = "composite"
    params: dict[str, Any] = field(default_factory=dict)
    position_fraction: float = 0.5
    stop_loss_pct: float | None = 0.02
    take_profit_pct: float | None = None
    trailing_stop_pct: float | None = None


def test_the_live_entry_carries_the_score_the_backtester_reads() -> None:
    bars = read_ohlcv_csv(DATA / "binance_BTCUSDT_1h.csv")
    bars = bars[(bars["ts"] >= "2022-11-01") & (bars["ts"] < "2023-03-01")]
    bars = bars.reset_index(drop=True)
    strategy = get_strategy("composite")
    scores = strategy.scores(bars)
    entries = strategy.signals(bars)["entry"]
    assert entries.any() and scores.between(-1, 1).all()
    row = int(entries[entries].index[-1])
    history = bars.iloc[: row + 1]
    ts = pd.Timestamp(history["ts"].iloc[-1]).to_pydatetime()
    bar = BarKey(SeriesKey("binance", "BTC/USDT", "1h"), ts)
    evaluation = evaluate_bar(
        history, bar, strategy, in_position=False, equity=1000.0, cash=1000.0,
        cfg=Sizing(), market_now=ts + pd.Timedelta(hours=1), protocol=True,
    )  # fmt: skip
    assert evaluation.intent is not None
    assert evaluation.intent.reasons["score"] == float(strategy.scores(history).iloc[-1])
    # warm enough: the score on the truncated history equals the full-history one
    assert abs(evaluation.intent.reasons["score"] - scores.iloc[row]) < 1e-9
    # without the protocol nothing is added (single-strategy intents keep their reasons)
    plain = evaluate_bar(
        history, bar, strategy, in_position=False, equity=1000.0, cash=1000.0,
        cfg=Sizing(), market_now=datetime(2030, 1, 1), protocol=False,
    )  # fmt: skip
    assert plain.intent is None or "score" not in plain.intent.reasons
