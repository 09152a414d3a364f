"""Hand-made journal tables (the columns of fct_equity_curve, fct_daily_pnl,
fct_trade_journal, fct_trades, fct_positions) for report tests, with numbers worked by hand:

- equity (paper) climbs 500 -> 520 on 2025-03-01..02, falls to 490 on 2025-03-03, i.e.
  1 - 490/520 = 5.77 % below its peak at the end of 03-03 (drawdown stage 1, WARNING);
- on 2025-03-03 instance ``macd`` (the default instance's strategy) closes two trades at their
  stop-loss (-15, -8) and one by its exit (+3); ``manual`` closes one (+5); one BTC position
  stays open.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

DAY = date(2025, 3, 3)
T0 = datetime(2025, 3, 1)


def equity_at(hour: int) -> float:
    """500 at hour 0, +20 linearly to hour 48, then -30 linearly to hour 72."""
    if hour <= 48:
        return 500.0 + 20.0 * hour / 48
    return 520.0 - 30.0 * (hour - 48) / 24


def curve() -> pd.DataFrame:
    hours = range(1, 73)
    return pd.DataFrame(
        {
            "mode": "paper",
            "as_of": [T0 + timedelta(hours=h) for h in hours],
            "equity": [equity_at(h) for h in hours],
        }
    )


def daily() -> pd.DataFrame:
    ends = [equity_at(24), equity_at(48), equity_at(72)]
    return pd.DataFrame(
        {
            "mode": "paper",
            "day": [date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)],
            "pnl": np.diff([500.0, *ends]),
            "realized_pnl_net": [0.0, 0.0, -15.0],
            "equity": ends,
        }
    )


def _at(hour: int) -> datetime:
    return datetime.combine(DAY, datetime.min.time()) + timedelta(hours=hour)


def journal() -> pd.DataFrame:
    rows = [
        ("macd", 1, "sell", -15.0, "close"),
        ("macd", 5, "sell", -8.0, "close"),
        ("macd", 9, "sell", 3.0, "close"),
        ("manual", 10, "sell", 5.0, "close"),
        ("macd", 12, "buy", -0.1, "open"),
    ]
    return pd.DataFrame(
        [
            {
                "event_time": _at(h), "mode": "paper", "strategy": s, "symbol": "BTC/USDT",
                "side": side, "quantity": 0.01, "price": 60000.0, "fee": 0.1,
                "fee_currency": "USDT", "fee_quote": 0.1, "realized_pnl_gross": net + 0.1,
                "realized_pnl_net": net, "role": role, "slippage_bps": 1.0,
                "fee_unvalued": False,
            }
            for s, h, side, net, role in rows
        ]
    )  # fmt: skip


def trades() -> pd.DataFrame:
    rows = [
        ("macd", 1, -15.0, "stop_loss", True),
        ("macd", 5, -8.0, "stop_loss", True),
        ("macd", 9, 3.0, "exit", True),
        ("manual", 10, 5.0, "exit", True),
        ("macd", None, None, None, False),
    ]
    return pd.DataFrame(
        [
            {
                "mode": "paper", "exchange": "binance", "symbol": "BTC/USDT", "strategy": s,
                "opened_at": _at(0), "closed_at": _at(h) if h is not None else pd.NaT,
                "is_closed": closed, "realized_pnl_net": net, "exit_reason": reason,
                "holding_seconds": 3600.0 * h if h is not None else np.nan,
                "direction": "long", "entry_price": 60000.0, "exit_price": 59000.0,
                "mfe": 0.01, "mae": -0.02, "entry_action": "BUY", "entry_score": 0.4,
                "regime": "trend_up_low_vol",
            }
            for s, h, net, reason, closed in rows
        ]
    )  # fmt: skip


def positions() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "mode": "paper", "exchange": "binance", "symbol": "BTC/USDT", "strategy": "macd",
                "quantity": 0.005, "average_cost": 60000.0, "mark_price": 59000.0,
                "marked_at": _at(23), "market_value": 295.0, "unrealized_pnl": -5.0,
            }
        ]
    )  # fmt: skip
