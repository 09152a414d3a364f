"""The event-by-event backtester: a strategy's signals, the fill conventions, one long position.

Order of events inside bar ``i`` (what the backtester assumes about time):
1. at the open: orders decided at bar ``i-1`` under ``fill="next_open"`` fill at the open
   (exit first, then entry); a buy limit decided at bar ``i-1`` fills at its price if the bar
   trades through it (``low < limit``), with the maker fee and no slippage;
2. intrabar: an open position's stop-loss / take-profit / trailing stop are checked with
   ``fills.intrabar_exit`` (stop first on a tie; a gap fills at the open). They are active
   from the first bar after a close or limit fill. For a ``next_open`` market fill the
   convention ``stops_from`` decides: ``"fill"`` (default) checks them on the fill bar
   itself (the open precedes the bar's range), ``"next"`` from the following bar, as most
   backtesters do; the fill bar is then ignored for stops altogether, as after a close fill
   (the trailing level starts at the fill price). The trailing level trails the highest high
   of the checked bars up to the previous bar;
3. at the close: the strategy's ``exit`` closes a position (filled now under
   ``fill="close"``, at the next open otherwise); else, when flat, ``entry`` opens one.

Sizing and exit levels go through ``trading_core.position_sizing``, the functions the live
asset calls: an entry commits ``entry_notional(equity=cash, cash=cash, size_fraction)`` (all-in:
``position_fraction=1``, and equity equals cash when flat), ``quantity =
all_in_quantity(...)`` so that value plus fee equals it, and the stop / take-profit come
from ``exit_levels`` (the strategy's levels, else the configured fractions of the fill
price). Market fills pay the taker fee and ``slippage_bps``; limit fills and take-profits pay
the maker fee without slippage.
Bars before ``trade_from`` only feed the strategy's indicators; the window starts there
(``trading_core.backtest.warmup`` chooses how many of them a run keeps).

Trade log: besides the hashed trade table, each trade records its maximum favourable and
adverse excursion (``mfe``/``mae``, fractions of the entry price): the highest high and
lowest low of every bar held through its intrabar phase, plus the entry and exit prices (an
exit bar whose exit happened intrabar or at its open contributes only its exit price).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from trading_core import fills, position_sizing
from trading_core.backtest.config import BacktestConfig
from trading_core.backtest.data import DataError, check_bars, infer_bars_per_year
from trading_core.backtest.decisions import decision_signals
from trading_core.backtest.result import TRADE_COLUMNS, BacktestResult, build_result
from trading_core.backtest.trade_log import build_trade_log
from trading_core.backtest.warmup import apply_warmup
from trading_core.strategies import Strategy


@dataclass
class _Position:
    entry_index: int
    entry_ts: pd.Timestamp
    price: float
    quantity: float
    spend: float
    fee: float
    reason: str
    stop: float | None
    take: float | None
    highest: float
    checks_from: int
    signal_index: int
    max_price: float
    min_price: float


@dataclass
class _PendingEntry:
    limit: float | None
    stop: float | None
    take: float | None
    fraction: float
    reason: str


def _level(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


class _Simulation:
    """Cash, the position and the trade log; every fill goes through ``trading_core.fills``."""

    def __init__(self, config: BacktestConfig, ts: np.ndarray) -> None:
        self.config = config
        self.ts = ts
        self.cash = config.initial_cash
        self.position: _Position | None = None
        self.trades: list[dict[str, object]] = []
        self.entries = 0
        self.fees_paid = 0.0
        # per closed trade: (signal bar, highest price, lowest price, exit bar)
        self.excursions: list[tuple[int, float, float, int]] = []

    def buy(
        self,
        i: int,
        price: float,
        fee_rate: float,
        order: _PendingEntry,
        checks_from: int,
        signal_index: int,
    ) -> None:
        spend = position_sizing.entry_notional(
            equity=self.cash, cash=self.cash, size_fraction=order.fraction
        )
        quantity = position_sizing.all_in_quantity(spend, price, fee_rate)
        fee = fills.fee_amount(quantity * price, fee_rate)
        # booked as the ledger books a fill (trading_core.accounting): value plus fee, which
        # equals the committed cash to the last bits only
        spend = quantity * price + fee
        self.cash -= spend
        self.fees_paid += fee
        self.entries += 1
        cfg = self.config
        stop, take = position_sizing.exit_levels(
            price,
            stop_loss=order.stop,
            take_profit=order.take,
            default_stop_fraction=cfg.stop_loss_pct,
            default_take_fraction=cfg.take_profit_pct,
        )
        self.position = _Position(
            i,
            pd.Timestamp(self.ts[i]),
            price,
            quantity,
            spend,
            fee,
            order.reason,
            stop,
            take,
            price,
            checks_from,
            signal_index,
            price,
            price,
        )

    def sell(self, i: int, price: float, fee_rate: float, reason: str) -> None:
        pos = self.position
        assert pos is not None
        notional = pos.quantity * price
        fee = fills.fee_amount(notional, fee_rate)
        proceeds = notional - fee
        self.cash += proceeds
        self.fees_paid += fee
        pnl = proceeds - pos.spend
        self.excursions.append(
            (pos.signal_index, max(pos.max_price, price), min(pos.min_price, price), i)
        )
        self.trades.append(
            {
                "entry_ts": pos.entry_ts,
                "exit_ts": pd.Timestamp(self.ts[i]),
                "entry_price": pos.price,
                "exit_price": price,
                "quantity": pos.quantity,
                "cost": pos.spend,
                "proceeds": proceeds,
                "entry_fee": pos.fee,
                "exit_fee": fee,
                "pnl": pnl,
                "return": pnl / pos.spend,
                "bars_held": i - pos.entry_index,
                "entry_reason": pos.reason,
                "exit_reason": reason,
            }
        )
        self.position = None

    def held_through(self, h: float, low: float) -> None:
        """The position survived this bar's intrabar phase: its range counts for MFE/MAE."""
        pos = self.position
        if pos is not None:
            pos.max_price = max(pos.max_price, h)
            pos.min_price = min(pos.min_price, low)

    def market_price(self, side: fills.Side, price: float) -> float:
        return fills.slipped_price(side, price, self.config.slippage_bps)

    def protective_exit(self, i: int, o: float, h: float, low: float) -> None:
        pos = self.position
        if pos is None or i < pos.checks_from:
            return
        stop, label = pos.stop, "stop_loss"
        if self.config.trailing_stop_pct is not None:
            trail = fills.trailing_stop_level("buy", pos.highest, self.config.trailing_stop_pct)
            if stop is None or trail > stop:
                stop, label = trail, "trailing_stop"
        hit = fills.intrabar_exit("buy", o, h, low, stop, pos.take)
        if hit is None:
            pos.highest = max(pos.highest, h)
            return
        kind, level = hit
        if kind == "stop_loss":
            self.sell(i, self.market_price("sell", level), self.config.fee, label)
        else:
            self.sell(i, level, self.config.maker, "take_profit")


def run_backtest(
    bars: pd.DataFrame,
    strategy: Strategy,
    config: BacktestConfig | None = None,
    trade_from: datetime | str | None = None,
    *,
    journal: bool = True,
) -> BacktestResult:
    """Backtest ``strategy`` on ``bars`` (``ts`` + OHLC, oldest first) under ``config``.

    The window starts at ``trade_from`` (default: the first bar); ``config.warmup`` decides
    how many earlier bars feed the indicators. ``journal=False`` skips the per-trade journal
    (``result.trade_log``: excursions and market conditions), which sweeps do not report.
    """
    cfg = config or BacktestConfig()
    bars = check_bars(bars)
    start = 0 if trade_from is None else int(np.searchsorted(bars["ts"], pd.Timestamp(trade_from)))
    if start >= len(bars):
        raise DataError(f"no bars at or after trade_from={trade_from}")
    bars, start, warmup = apply_warmup(bars, start, strategy, cfg.warmup)
    bars_per_year = cfg.bars_per_year or infer_bars_per_year(bars["ts"])
    signals = decision_signals(strategy, bars)

    ts = bars["ts"].to_numpy()
    o, h, low, c = (
        bars[k].to_numpy(dtype=float).tolist() for k in ("open", "high", "low", "close")
    )
    entry, exit_ = signals["entry"].tolist(), signals["exit"].tolist()
    stop_col, take_col = signals["stop_loss"].to_numpy(), signals["take_profit"].to_numpy()
    limit_col, fraction_col = signals["limit_price"].to_numpy(), signals["size_fraction"].tolist()
    reason_col = signals["reason"].tolist()

    sim = _Simulation(cfg, ts)
    next_open = cfg.fill == "next_open"
    stops_delay = 0 if cfg.stops_from == "fill" else 1
    pending_exit = False
    pending: _PendingEntry | None = None
    n = len(c)
    equity = np.empty(n - start)
    exposed = np.zeros(n - start, dtype=bool)
    for i in range(start, n):
        if pending_exit and sim.position is not None:
            sim.sell(i, sim.market_price("sell", o[i]), cfg.fee, "signal")
        pending_exit = False
        if pending is not None and sim.position is None:
            if pending.limit is None:
                sim.buy(i, sim.market_price("buy", o[i]), cfg.fee, pending, i + stops_delay, i - 1)
            elif fills.limit_fills("buy", pending.limit, low[i], h[i]):
                sim.buy(i, pending.limit, cfg.maker, pending, i + 1, i - 1)
        pending = None

        sim.protective_exit(i, o[i], h[i], low[i])
        sim.held_through(h[i], low[i])

        if sim.position is not None and exit_[i]:
            if next_open:
                pending_exit = i + 1 < n
            else:
                sim.sell(i, sim.market_price("sell", c[i]), cfg.fee, "signal")
        elif sim.position is None and entry[i]:
            order = _PendingEntry(
                _level(limit_col[i]),
                _level(stop_col[i]),
                _level(take_col[i]),
                float(fraction_col[i]),
                reason_col[i],
            )
            if order.limit is not None or next_open:
                pending = order if i + 1 < n else None
            else:
                sim.buy(i, sim.market_price("buy", c[i]), cfg.fee, order, i + 1, i)

        held = sim.position
        exposed[i - start] = held is not None
        equity[i - start] = sim.cash + (held.quantity * c[i] if held is not None else 0.0)

    if sim.position is not None and cfg.close_at_end:
        sim.sell(n - 1, sim.market_price("sell", c[-1]), cfg.fee, "end_of_window")
        equity[-1] = sim.cash

    trades = pd.DataFrame(sim.trades, columns=TRADE_COLUMNS)
    open_trade = None
    open_position = None
    if sim.position is not None:
        pos = sim.position
        open_trade = {
            "entry_ts": pos.entry_ts,
            "entry_price": pos.price,
            "quantity": pos.quantity,
            "cost": pos.spend,
            "value": pos.quantity * c[-1],
            "entry_reason": pos.reason,
        }
        open_position = {
            "entry_ts": pos.entry_ts,
            "entry_price": pos.price,
            "quantity": pos.quantity,
            "cost": pos.spend,
            "fee": pos.fee,
            "reason": pos.reason,
            "signal_index": pos.signal_index,
            "entry_index": pos.entry_index,
            "highest": pos.max_price,
            "lowest": pos.min_price,
        }
    trade_log = (
        build_trade_log(
            bars=bars, trades=trades, excursions=sim.excursions, open_position=open_position
        )
        if journal
        else []
    )
    return build_result(
        strategy=strategy,
        config=cfg,
        ts=pd.Series(ts[start:]),
        close=np.asarray(c[start:]),
        equity=equity,
        exposed=exposed,
        trades=trades,
        open_trade=open_trade,
        entries=sim.entries,
        fees_paid=sim.fees_paid,
        bars_per_year=bars_per_year,
        history_bars=start,
        trade_log=trade_log,
        warmup=warmup,
    )
