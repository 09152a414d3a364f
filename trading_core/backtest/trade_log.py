"""The backtest's trade journal: one JSON-ready object per closed or open trade.

``trading backtest --json`` prints it as ``trades`` next to ``trade_hash`` (which keeps
hashing the exact values of the closed-trade table). Each object has:

- ``entry_ts`` / ``exit_ts`` (ISO-8601 UTC; ``exit_ts`` null while open), ``entry_price``,
  ``exit_price`` (null while open; ``mark_price`` is the last close), ``quantity``,
  ``entry_value`` (quantity x entry price, before the fee), ``fee`` (entry plus exit fee),
  ``pnl`` and ``return`` (net of fees, on the committed cash; while open: marked at the last
  close, before the exit fee), ``entry_reason``, ``exit_reason`` (null while open),
  ``holding_bars`` and ``holding_period`` (ISO-8601 duration);
- ``mfe`` / ``mae``: maximum favourable / adverse excursion while held, as fractions of the
  entry price (``mfe >= 0 >= mae``), from the bars' highs and lows (see the engine's
  docstring for which bars count), with ``mfe_price`` / ``mae_price``;
- ``entry_conditions``: the market at the signal bar (the bar whose close decided the
  entry): ``atr_pct`` (ATR(14) / close), ``volatility`` (standard deviation of the last 20
  log returns of the close), ``regime`` (``signals.classify_regime``: trend and volatility
  label, ``unknown`` while its indicators warm up). Null values while an indicator has no
  value yet.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from trading_core.indicators import adx, atr, bollinger
from trading_core.signals import classify_regime

VOLATILITY_WINDOW = 20


def _iso(ts: Any) -> str:
    stamp = pd.Timestamp(ts)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.isoformat()


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(float(value)) else None


def rolling_std_of_log_returns(close: np.ndarray, window: int = VOLATILITY_WINDOW) -> np.ndarray:
    """Sample standard deviation of the last ``window`` log returns, NaN before; each value
    computed from its own window only (pandas' running sums would depend on where the
    series starts in the last digits, and a warmed-up window must match full history)."""
    out = np.full(close.shape, np.nan)
    returns = np.log(close[1:] / close[:-1])
    if returns.size >= window:
        windows = np.lib.stride_tricks.sliding_window_view(returns, window)
        out[window:] = windows.std(axis=1, ddof=1)
    return out


def market_conditions(bars: pd.DataFrame) -> pd.DataFrame:
    """``atr_pct``, ``volatility`` and ``regime`` per bar, each from that bar and earlier ones."""
    high, low, close = bars["high"], bars["low"], bars["close"]
    frame = pd.DataFrame(index=bars.index)
    frame["close"] = close
    frame = pd.concat(
        [frame, adx(high, low, close, 14), bollinger(close, 20, 2.0)[["bb_width_20_2"]]], axis=1
    )
    frame["atr_14"] = atr(high, low, close, 14)
    return pd.DataFrame(
        {
            "atr_pct": frame["atr_14"] / close,
            "volatility": rolling_std_of_log_returns(close.to_numpy(dtype=float)),
            "regime": classify_regime(frame),
        },
        index=bars.index,
    )


def _conditions(table: pd.DataFrame | None, index: int) -> dict[str, Any]:
    if table is None or index < 0:
        return {"atr_pct": None, "volatility": None, "regime": None}
    row = table.iloc[index]
    return {
        "atr_pct": _number(row["atr_pct"]),
        "volatility": _number(row["volatility"]),
        "regime": str(row["regime"]),
    }


def _excursion(entry_price: float, highest: float, lowest: float) -> dict[str, float]:
    return {
        "mfe": highest / entry_price - 1.0,
        "mae": lowest / entry_price - 1.0,
        "mfe_price": highest,
        "mae_price": lowest,
    }


def build_trade_log(
    *,
    bars: pd.DataFrame,
    trades: pd.DataFrame,
    excursions: list[tuple[int, float, float, int]],
    open_position: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """The journal objects of ``trades`` (the engine's closed-trade table, in order, with one
    ``(signal bar, highest, lowest, exit bar)`` per row in ``excursions``) and of the open
    position (keys ``entry_ts``, ``entry_price``, ``quantity``, ``cost``, ``fee``, ``reason``,
    ``signal_index``, ``entry_index``, ``highest``, ``lowest``), if any."""
    if len(excursions) != len(trades):
        raise ValueError(f"{len(trades)} trades but {len(excursions)} excursion records")
    if len(trades) == 0 and open_position is None:
        return []
    conditions = market_conditions(bars)
    ts = bars["ts"]
    out: list[dict[str, Any]] = []
    for row, (signal, highest, lowest, _exit_index) in zip(
        trades.to_dict(orient="records"), excursions, strict=True
    ):
        entry_ts, exit_ts = pd.Timestamp(row["entry_ts"]), pd.Timestamp(row["exit_ts"])
        out.append(
            {
                "entry_ts": _iso(entry_ts),
                "exit_ts": _iso(exit_ts),
                "entry_price": float(row["entry_price"]),
                "exit_price": float(row["exit_price"]),
                "quantity": float(row["quantity"]),
                "entry_value": float(row["quantity"]) * float(row["entry_price"]),
                "fee": float(row["entry_fee"]) + float(row["exit_fee"]),
                "pnl": float(row["pnl"]),
                "return": float(row["return"]),
                "entry_reason": str(row["entry_reason"]),
                "exit_reason": str(row["exit_reason"]),
                "holding_bars": int(row["bars_held"]),
                "holding_period": (exit_ts - entry_ts).isoformat(),
                **_excursion(float(row["entry_price"]), highest, lowest),
                "entry_conditions": _conditions(conditions, signal),
            }
        )
    if open_position is not None:
        pos = open_position
        last = len(ts) - 1
        mark = float(bars["close"].iloc[-1])
        value = pos["quantity"] * mark
        entry_ts = pd.Timestamp(pos["entry_ts"])
        out.append(
            {
                "entry_ts": _iso(entry_ts),
                "exit_ts": None,
                "entry_price": pos["entry_price"],
                "exit_price": None,
                "mark_price": mark,
                "quantity": pos["quantity"],
                "entry_value": pos["quantity"] * pos["entry_price"],
                "fee": pos["fee"],
                "pnl": value - pos["cost"],
                "return": (value - pos["cost"]) / pos["cost"],
                "entry_reason": pos["reason"],
                "exit_reason": None,
                "holding_bars": last - pos["entry_index"],
                "holding_period": (pd.Timestamp(ts.iloc[-1]) - entry_ts).isoformat(),
                **_excursion(pos["entry_price"], pos["highest"], pos["lowest"]),
                "entry_conditions": _conditions(conditions, pos["signal_index"]),
            }
        )
    return out
