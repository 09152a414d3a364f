"""Metric definitions on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trading_core.backtest import metrics


def test_returns_start_from_initial_cash_and_sharpe_uses_ddof_1() -> None:
    equity = np.array([100.0, 110.0, 99.0, 108.9])
    returns = metrics.per_bar_returns(equity, 100.0)
    np.testing.assert_allclose(returns, [0.0, 0.1, -0.1, 0.1])
    expected = np.mean(returns) / np.std(returns, ddof=1) * math.sqrt(365)
    assert metrics.sharpe_ratio(returns, 365) == pytest.approx(expected)
    assert math.isnan(metrics.sharpe_ratio(np.zeros(10), 365))


def test_sortino_penalises_only_downside() -> None:
    returns = np.array([0.02, -0.01, 0.03, -0.02])
    downside = math.sqrt((0.01**2 + 0.02**2) / 4)
    assert metrics.sortino_ratio(returns, 365) == pytest.approx(0.005 / downside * math.sqrt(365))


def test_drawdown_is_negative_and_duration_counts_bars_under_water() -> None:
    equity = np.array([100.0, 120.0, 90.0, 100.0, 121.0, 110.0, 111.0])
    assert metrics.max_drawdown(equity) == pytest.approx(90 / 120 - 1)
    assert metrics.max_drawdown_duration(equity) == 2
    assert metrics.max_drawdown_duration(np.array([1.0, 0.9, 0.8, 0.85])) == 3


def test_cagr_and_calmar() -> None:
    assert metrics.cagr(0.21, 730, 365) == pytest.approx(0.1)
    assert metrics.calmar_ratio(0.1, -0.25) == pytest.approx(0.4)
    assert math.isnan(metrics.calmar_ratio(0.1, 0.0))


def test_trade_statistics() -> None:
    pnl = np.array([10.0, -5.0, -5.0, 0.0, 20.0, 30.0, -10.0])
    returns = pnl / 100.0
    stats = metrics.trade_statistics(pnl, returns)
    assert stats["closed_trades"] == 7
    assert stats["win_rate"] == pytest.approx(3 / 7)
    assert stats["profit_factor"] == pytest.approx(60 / 20)
    assert stats["expectancy"] == pytest.approx(40 / 7)
    assert stats["avg_win"] == pytest.approx(0.2)
    assert stats["avg_loss"] == pytest.approx(-20 / 3 / 100)
    win_rate, ratio = 3 / 7, 0.2 / (20 / 3 / 100)
    assert stats["kelly"] == pytest.approx(win_rate - (1 - win_rate) / ratio)
    assert stats["longest_win_streak"] == 2  # the zero trade breaks the streaks
    assert stats["longest_loss_streak"] == 2


def test_trade_statistics_without_losses_or_trades() -> None:
    only_wins = metrics.trade_statistics(np.array([1.0, 2.0]), np.array([0.01, 0.02]))
    assert only_wins["profit_factor"] == math.inf and math.isnan(only_wins["kelly"])
    none = metrics.trade_statistics(np.array([]), np.array([]))
    assert none["closed_trades"] == 0 and math.isnan(none["win_rate"])
