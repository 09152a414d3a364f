"""One lane per (instance, symbol): its bars and signals as plain arrays, and its position.

Signals are computed once over every bar up to the window's end (earlier bars warm up the
indicators: the ``all`` warm-up), then read bar by bar; each row only uses its bar and
earlier ones (the strategy contract), so nothing looks ahead. A strategy may also offer
``scores(bars)``, a composite score per bar (the losing-streak phases' threshold).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from trading_core.accounting import Book
from trading_core.backtest.data import DataError, check_bars
from trading_core.backtest.decisions import decision_signals
from trading_core.config_portfolio import InstanceConfig, RiskSettings
from trading_core.indicators import atr
from trading_core.protocol.exits import ExitPlan
from trading_core.strategies import get_strategy
from trading_core.timeframes import timeframe_seconds


@dataclass
class OpenPosition:
    entry_ts: datetime
    entry_price: float
    quantity: float
    spend: float  # quote committed, fee included
    entry_fee: float
    stop: float | None
    take: float | None
    highest: float
    checks_from: int  # first bar index whose range may trigger the stops
    book: Book
    equity_at_entry: float
    tier: int
    size_multiplier: float
    reasons: dict[str, Any]
    plan: ExitPlan
    remaining: float  # base quantity still held (partial exits sell some)
    booked: float = 0.0  # the book's realized net P&L already counted for the instance
    exits: list[dict[str, Any]] = field(default_factory=list)

    def cost(self) -> float:
        """Quote cost of what is still held (the entry fee inside until an exit books it)."""
        if not self.exits:
            return self.spend
        return self.remaining * self.book.average_cost


@dataclass
class Lane:
    order: int
    instance: InstanceConfig
    risk: RiskSettings
    symbol: str
    close_ns: np.ndarray  # bar close instants (open + timeframe), ns since the epoch
    o: list[float]
    h: list[float]
    low: list[float]
    c: list[float]
    entry: list[bool]
    exit: list[bool]
    stop_col: list[float]
    take_col: list[float]
    fraction: list[float]
    reason: list[str]
    atr: list[float] | None
    score: list[float] | None  # the strategy's composite score per bar, when it gives one
    ts_ns: np.ndarray  # bar open instants, ns
    first: int  # first bar of the window
    last: int  # last bar of the window (inclusive)
    position: OpenPosition | None = None
    last_close: float = float("nan")

    @property
    def key(self) -> str:
        return f"{self.instance.id}:{self.symbol}"

    def value(self) -> float:
        pos = self.position
        return pos.remaining * self.last_close if pos is not None else 0.0


def build_lane(
    order: int,
    instance: InstanceConfig,
    symbol: str,
    bars: pd.DataFrame,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
) -> Lane | None:
    """The lane of ``instance`` on ``symbol``, or None when the window holds none of its bars."""
    origin = f"bars of instance {instance.id!r} {symbol}"
    bars = check_bars(bars, origin)
    prices = bars[["open", "high", "low", "close"]].to_numpy(dtype=float)
    bad = ~(np.isfinite(prices) & (prices > 0))
    if bad.any():
        row, col = (int(x[0]) for x in np.nonzero(bad))
        column = ("open", "high", "low", "close")[col]
        raise DataError(
            f"{origin}: {column} at {bars['ts'].iloc[row]} is {float(prices[row, col])!r}; "
            "allowed: finite prices > 0"
        )
    if end is not None:
        bars = bars[bars["ts"] <= end].reset_index(drop=True)
    if bars.empty:
        return None
    first = (
        0 if start is None else int(np.searchsorted(bars["ts"].to_numpy(), start.to_datetime64()))
    )
    if first >= len(bars):
        return None
    strategy = get_strategy(instance.strategy, instance.params)
    signals = decision_signals(strategy, bars)
    risk = instance.resolved_risk()
    step = np.int64(timeframe_seconds(instance.timeframe)) * np.int64(1_000_000_000)
    close_ns = bars["ts"].to_numpy().astype("datetime64[ns]").astype(np.int64) + step
    score = None
    scores = getattr(strategy, "scores", None)  # optional: a composite score per bar
    if callable(scores):
        score = pd.Series(scores(bars), index=bars.index).to_numpy(dtype=float).tolist()
    atr_values = None
    if risk.stop == "atr":
        atr_values = atr(bars["high"], bars["low"], bars["close"], risk.atr_period).tolist()
    return Lane(
        order=order,
        instance=instance,
        risk=risk,
        symbol=symbol,
        close_ns=close_ns,
        o=bars["open"].to_numpy(dtype=float).tolist(),
        h=bars["high"].to_numpy(dtype=float).tolist(),
        low=bars["low"].to_numpy(dtype=float).tolist(),
        c=bars["close"].to_numpy(dtype=float).tolist(),
        entry=signals["entry"].tolist(),
        exit=signals["exit"].tolist(),
        stop_col=signals["stop_loss"].to_numpy(dtype=float).tolist(),
        take_col=signals["take_profit"].to_numpy(dtype=float).tolist(),
        fraction=signals["size_fraction"].to_numpy(dtype=float).tolist(),
        reason=signals["reason"].tolist(),
        atr=atr_values,
        score=score,
        ts_ns=close_ns - step,
        first=first,
        last=len(bars) - 1,
    )


def schedule(lanes: list[Lane]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every window bar of every lane as (close instant, lane, bar index), in time order and,
    at one instant, in the configuration's instance and symbol order."""
    times, lane_ids, bar_ids = [], [], []
    for lane in lanes:
        idx = np.arange(lane.first, lane.last + 1)
        times.append(lane.close_ns[idx])
        lane_ids.append(np.full(idx.size, lane.order))
        bar_ids.append(idx)
    t = np.concatenate(times)
    li = np.concatenate(lane_ids)
    bi = np.concatenate(bar_ids)
    order = np.lexsort((li, t))
    return t[order], li[order], bi[order]
