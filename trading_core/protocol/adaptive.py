"""Adaptive sizing: fractional Kelly, and the adjustments from the record and the market.

**Kelly** (an instance with ``sizing: kelly``): over its last ``kelly.window`` closed
trades, win rate ``W`` and win/loss ratio ``R`` (mean win / mean loss):
``f = edge_factor x (W - (1 - W) / R)``, the fraction of the instance's equity the position
takes; the tier's ``max_position`` caps it as every size. Before ``kelly.min_trades`` trades
(or without a loss yet) the instance sizes risk-based; so it does with ``f <= 0`` (no
edge), unless ``kelly.no_edge: refuse``.

**Adjustments** (``ProtocolConfig.adaptive``), one multiplier each:

- ``low_win``: win rate below 45 % over the instance's last 20 trades -> x 0.75, set when a
  trade closes and kept until the account makes a new equity high ("back to normal"): a
  close that takes the account's realized P&L to a new high lifts it (``rules.on_close``;
  closes, unlike the marks of open positions, come at the same moments in both engines);
- ``volatility``: the symbol's ATR / close above at least 95 % of its previous 100 values
  (an extreme-volatility regime) -> x 0.6, on the bar it holds;
- ``high_win``: win rate above 65 % over the last 50 -> x 1.2, only when no other rule cuts
  the size (a boost never offsets a cut) and never above the tier's cap.

How they combine with the rest is ``gate``'s documented rule. Pure functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from trading_core.config_protocol import AdaptiveConfig, KellyConfig


def _win_rate(pnl: Sequence[float]) -> float:
    return sum(1 for p in pnl if p > 0) / len(pnl) if pnl else math.nan


@dataclass(frozen=True)
class Kelly:
    fraction: float | None  # None: not enough record (the instance sizes risk-based)
    win_rate: float
    payoff: float  # mean win / mean loss
    trades: int
    detail: str


def kelly(pnl: Sequence[float], config: KellyConfig) -> Kelly:
    """The fractional Kelly fraction of the last ``config.window`` trades' ``pnl``."""
    recent = list(pnl)[-config.window :]
    for value in recent:
        if not math.isfinite(value):
            raise ValueError(f"kelly: trade pnl must be finite, got {value!r}")
    wins = [p for p in recent if p > 0]
    losses = [-p for p in recent if p < 0]
    rate = _win_rate(recent)
    if len(recent) < config.min_trades:
        short = f"{len(recent)} trades < {config.min_trades}"
        return Kelly(None, rate, math.nan, len(recent), short)
    if not losses:
        return Kelly(None, rate, math.inf, len(recent), "no loss yet: the ratio is undefined")
    if not wins:
        return Kelly(0.0, 0.0, 0.0, len(recent), "no win: no edge")
    payoff = (sum(wins) / len(wins)) / (sum(losses) / len(losses))
    raw = rate - (1.0 - rate) / payoff
    fraction = min(1.0, max(0.0, config.edge_factor * raw))
    return Kelly(
        fraction,
        rate,
        payoff,
        len(recent),
        f"W {rate:.3f}, R {payoff:.3f}, kelly {raw:.4f} x edge {config.edge_factor:g}",
    )


def low_win_triggered(pnl: Sequence[float], config: AdaptiveConfig) -> bool:
    """Whether the last ``low_win_window`` trades (all of them there) win too rarely."""
    recent = list(pnl)[-config.low_win_window :]
    return len(recent) >= config.low_win_window and _win_rate(recent) < config.low_win_rate


def high_win_triggered(pnl: Sequence[float], config: AdaptiveConfig) -> bool:
    recent = list(pnl)[-config.high_win_window :]
    return len(recent) >= config.high_win_window and _win_rate(recent) > config.high_win_rate


def bars_needed(config: AdaptiveConfig) -> int:
    """Bars ``volatility_percentile`` reads: the window and the last bar, the ATR's period
    before them, and one previous close."""
    return config.volatility_window + config.atr_period + 1


def volatility_percentile(
    high: Sequence[float], low: Sequence[float], close: Sequence[float], config: AdaptiveConfig
) -> float:
    """The share of the previous ``volatility_window`` values of ATR / close strictly below
    the last bar's (1: the highest of the window; a flat volatility is 0); NaN until there
    are ``bars_needed`` bars.

    The ATR is the simple mean of the true range over ``atr_period`` bars, so the value
    depends on the last ``bars_needed`` bars only: the backtester (every bar so far) and the
    executor (the candles it fetched) compute the same number.
    """
    n = bars_needed(config)
    if not (len(high) == len(low) == len(close)):
        raise ValueError("volatility: high, low and close must have the same length")
    if len(close) < n:
        return math.nan
    h = np.asarray(high[-n:], dtype=float)
    lo = np.asarray(low[-n:], dtype=float)
    c = np.asarray(close[-n:], dtype=float)
    prev = c[:-1]
    tr = np.maximum(h[1:] - lo[1:], np.maximum(np.abs(h[1:] - prev), np.abs(lo[1:] - prev)))
    period = config.atr_period
    atr = np.convolve(tr, np.ones(period), mode="valid") / period  # window + 1 values
    ratio = atr / c[-(config.volatility_window + 1) :]
    if not np.isfinite(ratio).all():
        return math.nan
    return float(np.mean(ratio[:-1] < ratio[-1]))


def extreme_volatility(percentile: float | None, config: AdaptiveConfig) -> bool:
    return (
        percentile is not None
        and math.isfinite(percentile)
        and (percentile >= config.extreme_percentile)
    )
