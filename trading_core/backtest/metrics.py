"""Performance metrics: pure functions of an equity curve and of closed trades.

Conventions (vectorbt's, so numbers compare):
- per-bar returns: ``equity[0] / initial_cash - 1``, then ``equity[i] / equity[i-1] - 1``;
- Sharpe = mean / std (ddof 1) of per-bar returns x sqrt(bars per 365 days), no risk-free
  rate; Sortino uses the downside deviation sqrt(mean(min(r, 0)^2)) instead of the std;
- max drawdown: the most negative ``equity / running peak - 1`` (a negative fraction);
- CAGR over ``bars / bars_per_year`` years; Calmar = CAGR / |max drawdown|.
Undefined ratios (no variance, no trades, no drawdown) are NaN, never 0.
"""

from __future__ import annotations

import math

import numpy as np


def per_bar_returns(equity: np.ndarray, initial_cash: float) -> np.ndarray:
    previous = np.concatenate(([initial_cash], equity[:-1]))
    return equity / previous - 1.0


def sharpe_ratio(returns: np.ndarray, bars_per_year: float) -> float:
    if returns.size < 2:
        return math.nan
    std = float(np.std(returns, ddof=1))
    if std == 0:
        return math.nan
    return float(np.mean(returns)) / std * math.sqrt(bars_per_year)


def sortino_ratio(returns: np.ndarray, bars_per_year: float) -> float:
    if returns.size == 0:
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside == 0:
        return math.nan
    return float(np.mean(returns)) / downside * math.sqrt(bars_per_year)


def drawdowns(equity: np.ndarray) -> np.ndarray:
    return equity / np.maximum.accumulate(equity) - 1.0


def max_drawdown(equity: np.ndarray) -> float:
    return float(drawdowns(equity).min()) if equity.size else math.nan


def max_drawdown_duration(equity: np.ndarray) -> int:
    """Longest run of bars spent below a previous peak (until recovered, or to the end)."""
    longest = current = 0
    for underwater in drawdowns(equity) < 0:
        current = current + 1 if underwater else 0
        longest = max(longest, current)
    return longest


def cagr(total_return: float, bars: int, bars_per_year: float) -> float:
    years = bars / bars_per_year
    if years <= 0 or total_return <= -1:
        return math.nan if years <= 0 else -1.0
    return (1.0 + total_return) ** (1.0 / years) - 1.0


def calmar_ratio(cagr_value: float, max_dd: float) -> float:
    return cagr_value / abs(max_dd) if max_dd < 0 else math.nan


def longest_streak(flags: np.ndarray) -> int:
    longest = current = 0
    for flag in flags:
        current = current + 1 if flag else 0
        longest = max(longest, current)
    return longest


def trade_statistics(pnl: np.ndarray, returns: np.ndarray) -> dict[str, float | int]:
    """Statistics of closed trades from their P&L (quote) and returns (P&L / cash committed).

    A win has P&L > 0, a loss P&L < 0; a zero P&L trade is neither and breaks both streaks.
    Kelly fraction = W - (1 - W) / R with W the win rate and R = average win / |average loss|.
    """
    count = int(pnl.size)
    wins, losses = pnl > 0, pnl < 0
    gross_win = float(pnl[wins].sum())
    gross_loss = float(-pnl[losses].sum())
    win_rate = float(wins.mean()) if count else math.nan
    avg_win = float(returns[wins].mean()) if wins.any() else math.nan
    avg_loss = float(returns[losses].mean()) if losses.any() else math.nan
    if not count:
        profit_factor = math.nan
    elif gross_loss > 0:
        profit_factor = gross_win / gross_loss
    else:
        profit_factor = math.inf if gross_win > 0 else math.nan
    if wins.any() and losses.any():
        kelly = win_rate - (1.0 - win_rate) / (avg_win / abs(avg_loss))
    else:
        kelly = math.nan
    return {
        "closed_trades": count,
        "win_rate": win_rate,
        "profit_factor": profit_factor,
        "expectancy": float(pnl.mean()) if count else math.nan,
        "expectancy_pct": float(returns.mean()) if count else math.nan,
        "avg_win": avg_win,
        "avg_loss": avg_loss,
        "kelly": kelly,
        "longest_win_streak": longest_streak(wins),
        "longest_loss_streak": longest_streak(losses),
    }


def equity_statistics(
    equity: np.ndarray, initial_cash: float, bars_per_year: float
) -> dict[str, float | int]:
    returns = per_bar_returns(equity, initial_cash)
    total = float(equity[-1] / initial_cash - 1.0)
    growth = cagr(total, equity.size, bars_per_year)
    worst = max_drawdown(equity)
    duration = max_drawdown_duration(equity)
    return {
        "total_return": total,
        "final_equity": float(equity[-1]),
        "cagr": growth,
        "sharpe": sharpe_ratio(returns, bars_per_year),
        "sortino": sortino_ratio(returns, bars_per_year),
        "max_drawdown": worst,
        "calmar": calmar_ratio(growth, worst),
        "max_drawdown_duration_bars": duration,
        "max_drawdown_duration_days": duration / bars_per_year * 365.0,
    }
