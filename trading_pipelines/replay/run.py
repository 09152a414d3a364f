"""``trading replay``'s engine: history bar by bar through the live path, on the market clock.

For each bar of the window, at its close on the market clock (never a wall-clock wait):

1. the executor's engine ticks (``executor.engine.Engine``): working limit orders are
   polled, the open position's stop-loss / take-profit / trailing stop are checked on the
   bar, and the position is marked. A bar on which the engine could only mark the position
   (no working order, no protective level within reach: ``may_exit``) is not ticked; the
   next tick checks and marks every bar since, as the engine does after any pause;
2. the new-bar sensor's cursor (``sensors.new_bars.BarCursor``) takes the bar;
3. the live decision (``assets.strategy.evaluate_bar``, the code of ``strategy/order_intents``)
   runs on the bars known at the close, with equity and cash from the ledger;
4. an intent goes into the ledger (``Ledger.add_intents``) and the engine ticks again:
   admission, the risk gate, the order, the fill by the paper broker under the backtest's fill
   convention (``executor.brokers.replay_fills``), the position and cash in the ledger.

The ledger is a SQLite file in a scratch ``TRADING_HOME`` (a temporary directory, removed
afterwards unless one is given). The executor's limits come from the run's arguments: cash
and fees; no notional caps, no order-rate throttle on the market clock, no drawdown halt, no
native backstops, a limit entry lives one bar (as in the backtester). The trades are read
back from the ledger's fills and reported through ``trading_core.backtest.result``, so
``trading replay --json`` has the keys of ``trading backtest --json``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from assets.strategy import evaluate_bar, evaluation_lookback
from executor.brokers.replay_fills import BarFillModel, ReplayPaperBroker
from executor.engine import Engine, EngineOptions
from executor.ledger import Ledger
from executor.orders import OrderState
from executor.records import Position
from sensors.new_bars import BarCursor
from trading_core.backtest import BacktestConfig
from trading_core.backtest.data import DataError, check_bars
from trading_core.backtest.result import BacktestResult
from trading_core.backtest.warmup import Warmup, apply_warmup
from trading_core.config import TradingConfig
from trading_core.fills import intrabar_exit, trailing_stop_level
from trading_core.series import BarKey, SeriesKey
from trading_core.strategies import Strategy
from trading_core.timeframes import TIMEFRAME_SECONDS, timeframe_delta
from trading_pipelines.replay.market import BarMarket
from trading_pipelines.replay.trades import ledger_trades, replay_result

EXCHANGE = "replay"
QUOTE = "USDT"
SYMBOL = f"ASSET/{QUOTE}"
# The risk gate's caps set out of the way: a backtest has none (RiskConfig's own bounds).
NO_CAP = 1e300
LIVE_WORKING = [OrderState.OPEN, OrderState.PARTIALLY_FILLED]
GUARD = 1e-9  # relative widening of protective levels in may_exit


@dataclass  # not frozen: ``SizingSettings`` (a Protocol of plain attributes) needs them settable
class ReplaySizing:
    """The live sizing settings for a single-strategy replay: all-in (``position_fraction``
    1), the backtest's default stop / take-profit / trailing fractions."""

    name: str
    params: dict[str, Any]
    stop_loss_pct: float | None
    take_profit_pct: float | None
    trailing_stop_pct: float | None
    position_fraction: float = 1.0


@dataclass
class Timings:
    """Seconds spent per part of the loop (the benchmark's breakdown)."""

    parts: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.parts[name] = self.parts.get(name, 0.0) + time.perf_counter() - began


@dataclass(frozen=True)
class ReplayRun:
    result: BacktestResult
    timings: dict[str, float]
    intents: int
    ledger_url: str


def infer_timeframe(ts: pd.Series) -> str:
    """The timeframe whose length is the bars' median spacing (gaps do not skew it)."""
    if len(ts) < 2:
        raise DataError("need at least two bars to infer the timeframe")
    spacing = np.median(np.diff(ts.to_numpy().astype("datetime64[s]").astype(np.int64)))
    for name, length in TIMEFRAME_SECONDS.items():
        if spacing == length:
            return name
    raise DataError(
        f"the bars are {spacing:g} s apart; a replay needs one of the timeframes "
        f"{list(TIMEFRAME_SECONDS)}"
    )


def executor_config(config: BacktestConfig, timeframe: str) -> TradingConfig:
    """The executor's configuration for a replay: limits from the run's arguments only."""
    return TradingConfig.model_validate(
        {
            "market": {"exchanges": [EXCHANGE], "symbols": [SYMBOL], "timeframes": [timeframe]},
            "risk": {
                "position_fraction": 1.0,
                "max_open_positions": 1,
                "max_trades_per_day": 10**12,
                "max_drawdown_pct": 1.0 - 1e-12,
                "min_notional": 0.0,
                "max_notional": NO_CAP,
            },
            # The run's fees: the fill model charges them, and the executor sizes the
            # all-in entries with them (``notional_includes_fee``: value + fee == notional,
            # the maker fee for a limit, the taker fee for a market entry; the gate reserves
            # no fee on top). Slippage is the fill model's; no reserve for it.
            "fees": {
                "maker": config.maker,
                "taker": config.fee,
                "slippage_bps": 0.0,
                "max_slippage_bps": 0.0,
            },
            "executor": {
                "mode": "paper",
                "exchange": EXCHANGE,
                "quote_currency": QUOTE,
                "starting_cash": config.initial_cash,
                "native_stops": False,
                "limit_timeout_seconds": float(TIMEFRAME_SECONDS[timeframe]),
                "max_reprices": 0,
                "max_price_deviation": 1.0,
                "max_orders_per_second": 1000,
                "max_orders_per_minute": 60_000,
            },
        }
    )


def run_replay(
    bars: pd.DataFrame,
    strategy: Strategy,
    config: BacktestConfig | None = None,
    trade_from: datetime | str | None = None,
    *,
    home: Path | None = None,
    timeframe: str | None = None,
) -> ReplayRun:
    """Replay ``strategy`` on ``bars`` (``ts`` + OHLC, oldest first) through the live path;
    bars before ``trade_from`` only feed the indicators (as in ``run_backtest``)."""
    cfg = config or BacktestConfig()
    bars = check_bars(bars)
    start = 0 if trade_from is None else int(np.searchsorted(bars["ts"], pd.Timestamp(trade_from)))
    if start >= len(bars):
        raise DataError(f"no bars at or after trade_from={trade_from}")
    bars, start, warmup = apply_warmup(bars, start, strategy, cfg.warmup)
    tf = timeframe or infer_timeframe(bars["ts"])
    if cfg.fill == "next_open" and cfg.stops_from == "next":
        raise ValueError(
            "--stops-from next with --fill next_open is a backtest convention the live "
            "engine does not have: it watches a position's stops from its fill (use "
            "--stops-from fill)"
        )
    if home is None:
        with tempfile.TemporaryDirectory(prefix="trading-replay-", dir=_scratch_root()) as scratch:
            return _run(bars, strategy, cfg, start, tf, Path(scratch), warmup)
    home.mkdir(parents=True, exist_ok=True)
    return _run(bars, strategy, cfg, start, tf, home, warmup)


def _holding(ledger: Ledger) -> tuple[Position | None, float]:
    """The replayed symbol's open position (None when flat) and the quote cash."""
    held = ledger.position(EXCHANGE, SYMBOL)
    return (held if held is not None and held.quantity > 0 else None), ledger.cash(QUOTE)


def may_exit(position: Position, high_water: float, o: float, h: float, low: float) -> bool:
    """Whether this bar could trigger the position's stop-loss, take-profit or trailing stop
    (``fills.intrabar_exit`` on levels widened by 1e-9, so never a miss). On any other bar
    the engine's tick would only mark the position: it is skipped, and the next tick checks
    and marks every bar since (the same candles, the same high-water mark)."""
    stop = position.stop_loss
    if position.trailing_stop_pct:
        trail = trailing_stop_level("buy", high_water, position.trailing_stop_pct)
        stop = trail if stop is None else max(stop, trail)
    take = position.take_profit
    if stop is None and take is None:
        return False
    wide_stop = None if stop is None else stop * (1.0 + GUARD)
    wide_take = None if take is None else take * (1.0 - GUARD)
    return intrabar_exit("buy", o, h, low, wide_stop, wide_take) is not None


def _scratch_root() -> str | None:
    """Memory-backed storage when the machine has it: the scratch ledger is deleted after
    the run, so its commits need not reach a disk."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _scratch_ledger(url: str, clock: Callable[[], datetime]) -> Ledger:
    """The real ledger, on a scratch SQLite file without fsync per commit (thrown away
    afterwards: durability buys nothing, and fsync would dominate the run)."""
    ledger = Ledger(url, clock=clock)

    @sa.event.listens_for(ledger.engine, "connect")
    def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()

    ledger.engine.dispose()  # the connections opened so far reconnect with the pragma
    return ledger


def _run(
    bars: pd.DataFrame,
    strategy: Strategy,
    cfg: BacktestConfig,
    start: int,
    tf: str,
    home: Path,
    warmup: Warmup,
) -> ReplayRun:
    timings = Timings()
    step = timeframe_delta(tf)
    market = BarMarket(bars, exchange=EXCHANGE, symbol=SYMBOL, timeframe=tf)
    ts = market.series.ts
    clock_now = [ts[start]]

    def clock() -> datetime:
        return clock_now[0]

    model = BarFillModel(market.series, tf, cfg.fill, cfg.fee, cfg.maker, cfg.slippage_bps)
    url = f"sqlite:///{home / 'ledger.sqlite'}"
    ledger = _scratch_ledger(url, clock)
    try:
        broker = ReplayPaperBroker(market, model, exchange=EXCHANGE, clock=clock)
        engine = Engine(
            ledger,
            broker,
            market,
            executor_config(cfg, tf),
            EngineOptions(
                limit_timeout_seconds=float(TIMEFRAME_SECONDS[tf]),
                max_reprices=0,
                protective_timeframe=tf,
            ),
            clock=clock,
            market_clock=clock,
        )
        engine.start()
        sizing = ReplaySizing(
            strategy.name,
            strategy.params.model_dump(),
            cfg.stop_loss_pct,
            cfg.take_profit_pct,
            cfg.trailing_stop_pct,
        )
        lookback = evaluation_lookback(strategy, 0)
        series = SeriesKey(EXCHANGE, SYMBOL, tf)
        cursor = BarCursor()
        closes = market.series.close
        n = len(ts)
        equity = np.empty(n - start)
        exposed = np.zeros(n - start, dtype=bool)
        intents = 0
        held: Position | None = None
        cash = cfg.initial_cash
        high_water = 0.0
        resting = False  # a limit entry works until the next bar's tick settles it
        bar_open, bar_high, bar_low = market.series.open, market.series.high, market.series.low
        for i in range(start, n):
            now = ts[i] + step
            clock_now[0] = now
            market.now = now
            if resting or (
                held is not None
                and may_exit(held, high_water, bar_open[i], bar_high[i], bar_low[i])
            ):
                with timings.part("engine: stops, working orders"):
                    engine.tick()
                with timings.part("ledger reads"):
                    held, cash = _holding(ledger)
                resting = False
            elif held is not None:
                high_water = max(high_water, bar_high[i])  # what the engine's next tick sees
            quantity = held.quantity if held is not None else 0.0
            with timings.part("sensor cursor"):
                cursor.add([BarKey(series, ts[i])])
                keys = cursor.take()
            for key in keys:
                with timings.part("strategy decision"):
                    evaluation = evaluate_bar(
                        bars.iloc[max(0, i + 1 - lookback) : i + 1],
                        BarKey.parse(key),
                        strategy,
                        in_position=quantity > 0,
                        equity=cash + quantity * closes[i],
                        cash=cash,
                        cfg=sizing,
                        market_now=now,
                    )
                if evaluation.intent is None:
                    continue
                intents += 1
                with timings.part("engine: intents, orders, fills"):
                    ledger.add_intents([evaluation.intent])
                    engine.tick()
                with timings.part("ledger reads"):
                    held, cash = _holding(ledger)
                    resting = evaluation.intent.order_type == "limit" and bool(
                        ledger.orders(LIVE_WORKING)
                    )
                quantity = held.quantity if held is not None else 0.0
            if held is None:
                high_water = 0.0
            elif held.high_water is not None:
                high_water = max(high_water, held.high_water)
            exposed[i - start] = quantity > 0
            equity[i - start] = cash + (quantity * closes[i] if quantity > 0 else 0.0)
        with timings.part("trades from the ledger"):
            table = ledger_trades(ledger, broker.bar_of_order, bars, cfg.fill)
            result = replay_result(
                strategy=strategy,
                config=cfg,
                bars=bars,
                start=start,
                equity=equity,
                exposed=exposed,
                table=table,
                warmup=warmup,
            )
    finally:
        ledger.close()
    return ReplayRun(result, dict(timings.parts), intents, url)
