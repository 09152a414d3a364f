"""A paper trading day through the live path, for the drift report's tests.

1h candles of a wave (MACD(3, 6, 3) crosses several times a day) go into a scratch
warehouse's ``staging.stg_ohlcv``; for every bar of the day the strategy decides on the bars
known at its close (``Strategy.decide``, the live decision), the intent is made by the live
code (``assets.strategy.intent_for``), goes into a real SQLite ledger and the executor's
engine ticks with the paper broker on a book at the bar's close. Two entries are handled
late on purpose: the first ``DELAYED`` one 20 minutes after its bar closed, on a book 1 %
higher (a late fill); the first ``EXPIRED`` one three hours late (past the age limit of one
bar plus the grace: the intent expires).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from assets.strategy import intent_for
from executor.brokers.paper import PaperBroker
from executor.engine import Engine
from executor.ledger import Ledger
from tests.executor.helpers import Clock, StubMarket
from trading_core.config import TradingConfig
from trading_core.series import BarKey, SeriesKey
from trading_core.strategies import get_strategy
from trading_pipelines.resources.strategy import StrategyResource

DAY = datetime(2025, 3, 3)
FIRST_BAR = DAY - timedelta(days=8)
SYMBOL = "BTC/USDT"
CONFIG = TradingConfig.model_validate(
    {
        "market": {"exchanges": ["sim"], "symbols": [SYMBOL], "timeframes": ["1h"]},
        "strategy": {
            "name": "macd",
            "timeframe": "1h",
            "params": {"fast": 3, "slow": 6, "signal": 3},
        },
        "executor": {"starting_cash": 1000.0, "exchange": "sim"},
        # stops out of reach: the day's exits are the strategy's own
        "risk": {"position_fraction": 0.5, "stop_loss_pct": 0.5, "take_profit_pct": 5.0},
        "fees": {"maker": 0.001, "taker": 0.001},
    }
)


def wave_bars(end: datetime = DAY + timedelta(days=1)) -> pd.DataFrame:
    """Hourly candles from ``FIRST_BAR`` to ``end``: a 7-hour wave around 100."""
    ts = pd.date_range(FIRST_BAR, end, freq="1h", inclusive="left")
    close = [100.0 + 3.0 * math.sin(i * 2 * math.pi / 7) + 0.01 * i for i in range(len(ts))]
    opens = [close[0], *close[:-1]]
    return pd.DataFrame(
        {
            "ts": ts,
            "open": opens,
            "high": [max(o, c) + 0.2 for o, c in zip(opens, close, strict=True)],
            "low": [min(o, c) - 0.2 for o, c in zip(opens, close, strict=True)],
            "close": close,
            "volume": 10.0,
        }
    )


def write_candles(warehouse: Path, bars: pd.DataFrame) -> None:
    frame = bars.assign(
        exchange="sim", symbol=SYMBOL, timeframe="1h", available_at=bars["ts"] + pd.Timedelta("1h")
    )
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("create schema if not exists staging")
        conn.register("frame", frame)
        conn.execute("create or replace table staging.stg_ohlcv as select * from frame")
        conn.unregister("frame")


@dataclass
class PaperDay:
    ledger_url: str
    delayed: list[str] = field(default_factory=list)  # entry intent ids handled late
    expired: list[str] = field(default_factory=list)
    on_time: list[str] = field(default_factory=list)


def trade_the_day(ledger_url: str, bars: pd.DataFrame) -> PaperDay:
    """Run the day through the ledger and the engine; which entries were delayed/expired."""
    clock = Clock(DAY)
    market = StubMarket(clock)
    ledger = Ledger(ledger_url, clock=clock)
    broker = PaperBroker(market, exchange="sim", fees=CONFIG.fees, clock=clock)
    market.set_book(SYMBOL, float(bars["close"].iloc[0]), amount=1000.0)
    engine = Engine(ledger, broker, market, CONFIG, clock=clock)
    engine.start()
    strategy = get_strategy("macd", dict(CONFIG.strategy.params))
    sizing = StrategyResource.from_config(CONFIG.strategy, CONFIG.risk, "USDT", 1000.0)
    day = PaperDay(ledger_url)
    window = bars[(bars["ts"] >= DAY) & (bars["ts"] < DAY + timedelta(days=1))]
    for i in window.index:
        known = bars.loc[:i]
        bar_ts = known["ts"].iloc[-1].to_pydatetime()
        close = float(known["close"].iloc[-1])
        closed_at = bar_ts + timedelta(hours=1)
        position = ledger.position("sim", SYMBOL)
        decision = strategy.decide(known, position is not None and position.quantity > 0)
        if decision is None:
            continue
        account = ledger.account("USDT")
        intent = intent_for(
            BarKey(SeriesKey("sim", SYMBOL, "1h"), bar_ts), decision, sizing,
            account.equity, account.cash,
        )  # fmt: skip
        ledger.add_intents([intent])
        delay, mid = timedelta(seconds=5), close
        if decision.action == "enter" and not day.delayed:
            delay, mid = timedelta(minutes=20), close * 1.01
            day.delayed.append(intent.intent_id)
        elif decision.action == "enter" and not day.expired:
            delay = timedelta(hours=3)
            day.expired.append(intent.intent_id)
        elif decision.action == "enter":
            day.on_time.append(intent.intent_id)
        clock.now = closed_at + delay
        market.set_book(SYMBOL, mid, amount=1000.0)
        engine.tick()
    ledger.close()
    return day
