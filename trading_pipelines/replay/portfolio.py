"""``trading replay --config FILE --data-dir DIR``: a portfolio replayed through the live path.

Every enabled instance of the configuration, on the candles of ``DIR`` (the layout of
``trading backtest --config``: ``portfolio_backtest.data``), through the code that trades
live: the strategy asset's decision (``assets.strategy.evaluate_bar`` with the asset's
instance plans, ``assets.strategy_instances``), intents into the executor's ledger
(SQLite, a scratch file), the executor's engine with the risk protocol on
(``executor.protocol_gate``, the same pure protocol the backtester calls), and the paper
broker. One instant at a time (a bar close of any instance, in time order):

1. the clock moves to the instant; each symbol's candle of the finest timeframe of the
   portfolio closing then becomes visible (the engine's protective candles) and its book is
   set at that close, the ask ``fees.slippage_bps`` above it and the bid below (a market
   order fills where the backtester fills it);
2. where the backtester would make its automatic review after capital preservation, the
   replay reviews (``reviewed_by="auto"``: no operator in a replay), then the engine ticks
   (stops, marks, the protocol observing the account);
3. each instance whose bar closes now decides on the bars known at the close; its intents
   go into the ledger and the engine ticks twice (orders and fills, then the protocol
   observing the account after them, as the backtester observes after the instant).

The report is built from the ledger and its audit log only, with the keys of ``trading
backtest --config --json`` (``trading_core.portfolio_backtest.report``). Where the two
differ, and why, is in ``DIFFERENCES``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assets.strategy import evaluate_bar, evaluation_lookback
from assets.strategy_instances import InstancePlan, atr_lookback, instance_plan
from executor.brokers.paper import PaperBroker
from executor.engine import Engine, EngineOptions
from trading_core.backtest.data import DataError, read_ohlcv_csv
from trading_core.config import TradingConfig, trading_home
from trading_core.config_portfolio import instances_of
from trading_core.market.base import OHLCV_COLUMNS, OrderBook, empty_ohlcv
from trading_core.portfolio_backtest.data import load_instances, series_file
from trading_core.portfolio_backtest.engine import PortfolioRun
from trading_core.portfolio_backtest.report import build_report
from trading_core.protocol.drawdown import auto_review_due
from trading_core.quality.releases import Release, ledger_path, read_releases
from trading_core.quality.spike_policy import SpikePolicy, spike_policy_of
from trading_core.series import BarKey, SeriesKey
from trading_core.timeframes import naive_utc, timeframe_delta, timeframe_seconds
from trading_pipelines.replay.portfolio_ledger import instance_equity, ledger_events, ledger_trades
from trading_pipelines.replay.run import _scratch_ledger, _scratch_root

# Executor-only limits a backtest does not have: wide enough never to decide.
EXECUTOR_LIMITS = {"max_notional": 1e12, "min_notional": 0.0, "max_trades_per_day": 10**9,
                   "max_open_positions": 1_000, "position_fraction": 1.0}  # fmt: skip
BOOK_DEPTH = 1e15  # one level, deep enough for any order
DIFFERENCES = (
    "stops are watched on the candles of the portfolio's finest timeframe (the engine has one "
    "protective timeframe); the backtester checks each lane's own bars: a stop of a coarser "
    "lane exits at the close of the finer candle that hit it, and inside one coarse bar the "
    "candle order decides between stop and take-profit (the backtester: stop first)",
    "a stop-loss or trailing stop fills at its level without slippage and a take-profit with "
    "the taker fee (the paper broker); the backtester slips stops and charges take-profits "
    "the maker fee",
    "positions are marked at the finest timeframe's close; the backtester marks each lane at "
    "its own last close, so drawdown stages can be reached at different instants",
)


@dataclass
class SymbolMarket:
    """A ``MarketSource`` over the replay's candles: closed candles of one timeframe per
    symbol (the finest of the portfolio) and a one-level book at the last close."""

    exchange: str
    timeframe: str
    candles: dict[str, pd.DataFrame]
    slippage_bps: float
    now: datetime
    name: str = "replay"

    def __post_init__(self) -> None:
        self.step = timeframe_delta(self.timeframe)
        self._ts = {s: b["ts"].to_numpy(dtype="datetime64[us]") for s, b in self.candles.items()}
        self.books: dict[str, float] = {}

    def fetch_ohlcv(
        self, exchange: str, symbol: str, timeframe: str, start: datetime, end: datetime,
        now: datetime | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        bars, ts = self.candles.get(symbol), self._ts.get(symbol)
        if bars is None or ts is None or timeframe != self.timeframe:
            return empty_ohlcv()
        closed_by = min(end, (now or self.now) - self.step + timedelta(microseconds=1))
        lo = int(np.searchsorted(ts, np.datetime64(start, "us"), side="left"))
        hi = int(np.searchsorted(ts, np.datetime64(closed_by, "us"), side="left"))
        if hi <= lo:
            return empty_ohlcv()
        rows = bars.iloc[lo:hi]
        return pd.DataFrame(
            {"exchange": exchange, "symbol": symbol, "timeframe": timeframe, "ts": ts[lo:hi],
             **{c: rows[c].to_numpy(dtype=float) for c in ("open", "high", "low", "close")},
             "volume": np.zeros(hi - lo)},
            columns=OHLCV_COLUMNS,
        )  # fmt: skip

    def fetch_order_book(
        self, exchange: str, symbol: str, depth: int, at: datetime | None = None
    ) -> OrderBook:
        close = self.books[symbol]
        factor = self.slippage_bps / 10_000.0
        bid, ask = close * (1.0 - factor), close * (1.0 + factor)
        return OrderBook(
            exchange, symbol, at or self.now, [(bid, BOOK_DEPTH)], [(ask, BOOK_DEPTH)], "replay"
        )


def _executor_config(
    config: TradingConfig, symbols: list[str], exchange: str, timeframe: str
) -> TradingConfig:
    tree = config.model_dump(mode="json")
    tree["risk"] = {**tree.get("risk", {}), **EXECUTOR_LIMITS}
    # one book level (no slippage cap needed) and no slippage reserve: a backtest has none
    tree["fees"] = {**tree.get("fees", {}), "max_slippage_bps": 0.0}
    tree["market"] = {**tree.get("market", {}), "symbols": symbols, "exchanges": [exchange]}
    # no price-deviation guard (a backtest has none); a limit entry lives one bar of the
    # finest timeframe, never repriced
    tree["executor"] = {**tree.get("executor", {}), "exchange": exchange, "mode": "paper",
                        "native_stops": False, "max_price_deviation": 1.0,
                        "limit_timeout_seconds": float(timeframe_seconds(timeframe)),
                        "max_reprices": 0, "max_orders_per_second": 1000,
                        "max_orders_per_minute": 60_000}  # fmt: skip
    return TradingConfig.model_validate(tree)


def _window(frame: pd.DataFrame, end: pd.Timestamp | None) -> pd.DataFrame:
    frame = frame.sort_values("ts").reset_index(drop=True)
    return frame if end is None else frame[frame["ts"] <= end].reset_index(drop=True)


def _protective_candles(
    data_dir: Path,
    plans: list[InstancePlan],
    exchange: str,
    timeframe: str,
    end,
    hold: tuple[SpikePolicy, list[Release]],
) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    for plan in plans:
        for _, symbol in sorted(plan.series or ()):
            if symbol not in out:
                path = series_file(data_dir, exchange, symbol, timeframe)
                out[symbol] = _window(read_ohlcv_csv(path, *hold), end)
    return out


def run_portfolio_replay(
    config: TradingConfig,
    data_dir: Path,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    *,
    home: Path | None = None,
) -> dict[str, Any]:
    """The portfolio through the live path; the report of ``trading backtest --config``."""
    if not Path(data_dir).is_dir():
        raise DataError(f"--data-dir {data_dir} is not a directory")
    if home is None:
        with tempfile.TemporaryDirectory(
            prefix="trading-replay-portfolio-", dir=_scratch_root()
        ) as scratch:
            return _run(config, data_dir, start, end, Path(scratch))
    home.mkdir(parents=True, exist_ok=True)
    return _run(config, data_dir, start, end, home)


def _run(config: TradingConfig, data_dir: Path, start, end, home: Path) -> dict[str, Any]:
    instances = instances_of(config)
    if not instances:
        raise ValueError("strategies: no enabled instance to replay")
    first = None if start is None else pd.Timestamp(naive_utc(start))
    last = None if end is None else pd.Timestamp(naive_utc(end))
    if first is not None and last is not None and last < first:
        raise ValueError(f"--end {end} is before --start {start}")
    exchanges = sorted({i.exchange for i in instances})
    if len(exchanges) > 1:
        raise ValueError(f"a replay trades one exchange account; the instances use {exchanges}")
    exchange = exchanges[0]
    plans = [instance_plan(inst) for inst in instances]
    # the spike hold as `trading backtest --config` applies it: the configured policy and
    # the operator's releases of the user's TRADING_HOME (not the replay's scratch home)
    hold = (spike_policy_of(config.market), read_releases(ledger_path(trading_home())))
    bars, used = load_instances(data_dir, instances, *hold)
    bars = {key: _window(frame, last) for key, frame in bars.items()}
    finest = min((i.timeframe for i in instances), key=timeframe_seconds)
    protective = _protective_candles(data_dir, plans, exchange, finest, last, hold)
    symbols = sorted(protective)
    cfg = _executor_config(config, symbols, exchange, finest)
    # the instants: every bar close of any instance inside the window, in time order
    closes: dict[datetime, list[tuple[InstancePlan, str, int]]] = {}
    for plan, inst in zip(plans, instances, strict=True):
        step = timeframe_delta(inst.timeframe)
        for symbol in inst.symbols:
            frame = bars[(inst.id, symbol)]
            if frame.empty:
                continue
            begin = 0 if first is None else int(np.searchsorted(frame["ts"], first))
            for i in range(begin, len(frame)):
                moment = frame["ts"].iloc[i].to_pydatetime() + step
                closes.setdefault(moment, []).append((plan, symbol, i))
    if not closes:
        raise ValueError(f"no instance has bars between {start} and {end}")
    instants = sorted(closes)
    clock = [instants[0]]
    market = SymbolMarket(exchange, finest, protective, cfg.fees.slippage_bps, instants[0])
    fine_ts = {s: {t.to_pydatetime(): c for t, c in zip(b["ts"], b["close"], strict=True)}
               for s, b in protective.items()}  # fmt: skip
    ledger = _scratch_ledger(f"sqlite:///{home / 'ledger.sqlite'}", lambda: clock[0])
    try:
        broker = PaperBroker(market, exchange=exchange, fees=cfg.fees, clock=lambda: clock[0],
                             candle_timeframe=finest)  # fmt: skip
        options = EngineOptions(
            protective_timeframe=finest,
            limit_timeout_seconds=float(timeframe_seconds(finest)),
            max_reprices=0,
        )
        engine = Engine(
            ledger,
            broker,
            market,
            cfg,
            options,
            clock=lambda: clock[0],
            market_clock=lambda: clock[0],
        )
        fine_step = timeframe_delta(finest)
        for symbol in symbols:  # the books before the first close: the last closes known
            known = [c for t, c in fine_ts[symbol].items() if t + fine_step <= instants[0]]
            market.books[symbol] = known[-1] if known else float(protective[symbol]["open"].iloc[0])
        engine.start()
        protocol = engine.protocol
        assert protocol is not None, "a portfolio lists strategies: the protocol is on"
        lookbacks = {p.id: _lookback(p) for p in plans}
        equity = np.empty(len(instants))
        equity_before: dict[datetime, float] = {}
        per_instance = {inst.id: np.empty(len(instants)) for inst in instances}
        for k, moment in enumerate(instants):
            clock[0] = moment
            market.now = moment
            for symbol in symbols:
                close = fine_ts[symbol].get(moment - fine_step)
                if close is not None:
                    market.books[symbol] = close
            if cfg.protocol.preservation.auto_review_in_backtest and auto_review_due(
                protocol.state.drawdown, moment
            ):
                protocol.review(engine._equity(), moment, "replay", reviewed_by="auto")
            engine.tick()
            intents = []
            account = ledger.account(cfg.executor.quote_currency)
            equity_before[moment] = account.equity
            held = {(p.symbol, p.instance_id) for p in ledger.open_positions() if p.quantity > 0}
            for plan, symbol, i in closes[moment]:
                frame = bars[(plan.id, symbol)]
                lookback = lookbacks[plan.id]
                result = evaluate_bar(
                    frame.iloc[max(0, i + 1 - lookback) : i + 1],
                    BarKey(SeriesKey(exchange, symbol, plan.timeframe), frame["ts"].iloc[i]),
                    plan.strategy,
                    in_position=(symbol, plan.id) in held,
                    equity=account.equity * plan.allocation,
                    cash=account.cash,
                    cfg=plan.sizing,
                    market_now=moment,
                    instance=plan.id,
                    atr_period=plan.atr_period,
                    protocol=True,
                )
                if result.intent is not None:
                    intents.append(result.intent)
            if intents:
                ledger.add_intents(intents)
                engine.tick()
                engine.tick()
            equity[k] = engine._equity()
            for inst in instances:
                per_instance[inst.id][k] = instance_equity(ledger, inst, protocol.stored)
        run = PortfolioRun(
            instances=instances,
            starting_cash=cfg.executor.starting_cash,
            times=np.array([np.datetime64(t, "ns").astype(np.int64) for t in instants]),
            equity=equity,
            instance_equity=per_instance,
            trades=ledger_trades(ledger, equity_before),
            events=ledger_events(ledger),
            final_state=protocol.state,
            conventions={
                "path": "live: strategy asset decision, ledger, executor engine with the "
                "protocol gate, paper broker",
                "fill": "close",
                "taker_fee": cfg.fees.taker,
                "maker_fee": cfg.fees.maker,
                "slippage_bps": cfg.fees.slippage_bps,
                "stops": f"watched on {finest} candles from the fill",
                "timestamps": "the instant of the fill or event (a bar's close time), UTC",
                "sides": "long only, one sub-position per instance and symbol",
                "protocol": "on",
                "differences_from_backtest": list(DIFFERENCES),
            },
        )
        return build_report(run, used)
    finally:
        ledger.close()


def _lookback(plan: InstancePlan) -> int:
    bars = evaluation_lookback(plan.strategy, plan.configured_lookback)
    return max(bars, atr_lookback(plan.atr_period)) if plan.atr_period else bars
