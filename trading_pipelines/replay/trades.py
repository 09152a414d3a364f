"""A replay's trades, read back from the ledger, as a backtest result.

Every round trip is an entry fill (a buy of the replay's one symbol) and the exit fill that
closes it, in the ledger's recorded order. The columns are the backtester's
(``trading_core.backtest.result.TRADE_COLUMNS``) computed from the fills: ``cost`` is what
the ledger booked for the entry fill (value plus fee, as the backtester books it),
``proceeds`` the exit value less its fee, ``pnl = proceeds - cost``; times are the open
times of the bars the fills are booked on (``ReplayPaperBroker.bar_of_order``). The result
goes through ``build_result`` and ``build_trade_log``, the backtester's own report code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from executor.ledger import Ledger
from executor.records import Fill
from trading_core.backtest import BacktestConfig
from trading_core.backtest.data import infer_bars_per_year
from trading_core.backtest.result import TRADE_COLUMNS, BacktestResult, build_result
from trading_core.backtest.trade_log import build_trade_log
from trading_core.backtest.warmup import Warmup
from trading_core.strategies import Strategy

# The ledger order's role -> the backtester's exit reason.
EXIT_REASONS: dict[str, str] = {
    "exit": "signal",
    "stop_loss": "stop_loss",
    "take_profit": "take_profit",
    "trailing_stop": "trailing_stop",
    "operator": "operator",
    "force_exit": "force_exit",
}


@dataclass(frozen=True)
class _Entry:
    index: int
    fill: Fill
    cost: float
    reason: str
    order_type: str


@dataclass
class TradeTable:
    """Closed trades (the backtester's columns), the open entry, and journal inputs."""

    trades: pd.DataFrame
    excursions: list[tuple[int, float, float, int]]
    open_entry: _Entry | None
    entries: int
    fees_paid: float


def _held_range(
    entry: _Entry, fill_price: str, exit_index: int | None, exit_at_close: bool
) -> tuple[int, int]:
    """The bars whose whole range a position lived through (the backtester's MFE/MAE rule):
    from the fill bar when it filled at the open or intrabar, else the bar after; to the exit
    bar when it exited at the close, else the bar before."""
    opened_at_open = entry.order_type == "limit" or fill_price == "next_open"
    first = entry.index if opened_at_open else entry.index + 1
    if exit_index is None:
        return first, -1
    last = exit_index if exit_at_close else exit_index - 1
    return first, last


def _excursion(
    bars: pd.DataFrame, first: int, last: int, entry_price: float, exit_price: float | None
) -> tuple[float, float]:
    prices = [entry_price] + ([] if exit_price is None else [exit_price])
    highest, lowest = max(prices), min(prices)
    if last >= first:
        highest = max(highest, float(bars["high"].iloc[first : last + 1].max()))
        lowest = min(lowest, float(bars["low"].iloc[first : last + 1].min()))
    return highest, lowest


def ledger_trades(
    ledger: Ledger,
    bar_of_order: dict[str, datetime],
    bars: pd.DataFrame,
    fill_price: str,
) -> TradeTable:
    """Round trips from the ledger's fills (``fill_price``: the run's ``--fill``)."""
    index = {pd.Timestamp(t): i for i, t in enumerate(bars["ts"])}
    ts = bars["ts"]
    rows: list[dict[str, Any]] = []
    excursions: list[tuple[int, float, float, int]] = []
    entry: _Entry | None = None
    entries = 0
    fees_paid = 0.0
    for fill in ledger.fills_since():
        cid = fill.client_order_id or ""
        order = ledger.order(cid)
        if order is None:
            raise RuntimeError(f"fill {fill.trade_id} has no order in the ledger")
        i = index[pd.Timestamp(bar_of_order[cid])]
        fees_paid += fill.fee
        if fill.side == "buy":
            record = ledger.intent(fill.intent_id) if fill.intent_id else None
            if record is None or record.intent.notional is None:
                raise RuntimeError(f"entry fill {fill.trade_id} has no notional intent")
            why = record.intent.reasons.get("why", "") if record.intent.reasons else ""
            # what the ledger booked for it (trading_core.accounting), as the backtester books
            cost = fill.quantity * fill.price + fill.fee
            entry = _Entry(i, fill, cost, str(why), order.order_type)
            entries += 1
            continue
        if entry is None:
            raise RuntimeError(f"exit fill {fill.trade_id} without an open entry")
        reason = EXIT_REASONS.get(order.role, order.role)
        proceeds = fill.quantity * fill.price - fill.fee
        pnl = proceeds - entry.cost
        rows.append(
            {
                "entry_ts": pd.Timestamp(ts.iloc[entry.index]),
                "exit_ts": pd.Timestamp(ts.iloc[i]),
                "entry_price": entry.fill.price,
                "exit_price": fill.price,
                "quantity": entry.fill.quantity,
                "cost": entry.cost,
                "proceeds": proceeds,
                "entry_fee": entry.fill.fee,
                "exit_fee": fill.fee,
                "pnl": pnl,
                "return": pnl / entry.cost,
                "bars_held": i - entry.index,
                "entry_reason": entry.reason,
                "exit_reason": reason,
            }
        )
        at_close = reason == "signal" and fill_price == "close"
        first, last = _held_range(entry, fill_price, i, at_close)
        highest, lowest = _excursion(bars, first, last, entry.fill.price, fill.price)
        excursions.append((_signal_index(entry, fill_price), highest, lowest, i))
        entry = None
    return TradeTable(
        pd.DataFrame(rows, columns=TRADE_COLUMNS), excursions, entry, entries, fees_paid
    )


def _signal_index(entry: _Entry, fill_price: str) -> int:
    """The bar whose close decided the entry."""
    if entry.order_type == "limit" or fill_price == "next_open":
        return entry.index - 1
    return entry.index


def replay_result(
    *,
    strategy: Strategy,
    config: BacktestConfig,
    bars: pd.DataFrame,
    start: int,
    equity: np.ndarray,
    exposed: np.ndarray,
    table: TradeTable,
    warmup: Warmup | None = None,
) -> BacktestResult:
    """The replay as a ``BacktestResult`` (same header, metrics, hash and trade log)."""
    close = bars["close"].to_numpy(dtype=float)
    open_trade = None
    open_position = None
    if table.open_entry is not None:
        e = table.open_entry
        open_trade = {
            "entry_ts": pd.Timestamp(bars["ts"].iloc[e.index]),
            "entry_price": e.fill.price,
            "quantity": e.fill.quantity,
            "cost": e.cost,
            "value": e.fill.quantity * close[-1],
            "entry_reason": e.reason,
        }
        first, _ = _held_range(e, config.fill, None, False)
        highest, lowest = _excursion(bars, first, len(bars) - 1, e.fill.price, None)
        open_position = {
            "entry_ts": open_trade["entry_ts"],
            "entry_price": e.fill.price,
            "quantity": e.fill.quantity,
            "cost": e.cost,
            "fee": e.fill.fee,
            "reason": e.reason,
            "signal_index": _signal_index(e, config.fill),
            "entry_index": e.index,
            "highest": highest,
            "lowest": lowest,
        }
    trade_log = build_trade_log(
        bars=bars,
        trades=table.trades,
        excursions=table.excursions,
        open_position=open_position,
    )
    return build_result(
        strategy=strategy,
        config=config,
        ts=pd.Series(bars["ts"].iloc[start:].to_numpy()),
        close=close[start:],
        equity=equity,
        exposed=exposed,
        trades=table.trades,
        open_trade=open_trade,
        entries=table.entries,
        fees_paid=table.fees_paid,
        bars_per_year=config.bars_per_year or infer_bars_per_year(bars["ts"]),
        history_bars=start,
        trade_log=trade_log,
        warmup=warmup,
    )
