"""``trading plot``: the price, the strategy's indicators and its entries/exits, PNG and HTML.

``strategy_panels`` gives the lines a strategy trades on, computed with the very indicator
functions it calls: overlays on the price (Bollinger bands for swing, the grid's range for
grid) and panels below it (MACD and its signal line, RSI with its thresholds, ADX with
grid's ``max_adx``). Entries and exits are the backtest's closed (and open) trades, drawn
at their fill prices. ``plot_png`` draws them with matplotlib's Agg canvas;
``research.plot_html`` writes the same data into one self-contained interactive HTML file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trading_core.indicators import adx, bollinger, macd, rsi
from trading_core.indicators._series import label
from trading_core.strategies import Strategy


@dataclass
class Panels:
    """Lines by panel: ``overlays`` share the price axis; each entry of ``below`` is one
    panel of named lines, with horizontal ``levels`` (thresholds) per panel."""

    overlays: dict[str, pd.Series] = field(default_factory=dict)
    below: dict[str, dict[str, pd.Series]] = field(default_factory=dict)
    levels: dict[str, dict[str, float]] = field(default_factory=dict)


def strategy_panels(strategy: Strategy, bars: pd.DataFrame) -> Panels:
    """The indicator lines of the built-in strategies (none for the others)."""
    p: Any = strategy.params
    close = bars["close"]
    panels = Panels()
    if strategy.name == "macd":
        lines = macd(close, p.fast, p.slow, p.signal, p.convention)
        suffix = f"{p.fast}_{p.slow}_{p.signal}"
        panels.below[f"MACD({suffix})"] = {
            "macd": lines[f"macd_{suffix}"],
            "signal": lines[f"macd_signal_{suffix}"],
        }
    elif strategy.name == "swing":
        bands = bollinger(close, p.bb_period, p.bb_std)
        suffix = f"{p.bb_period}_{label(p.bb_std)}"
        for part in ("upper", "middle", "lower"):
            panels.overlays[f"bb_{part}"] = bands[f"bb_{part}_{suffix}"]
        name = f"RSI({p.rsi_period})"
        panels.below[name] = {"rsi": rsi(close, p.rsi_period)}
        panels.levels[name] = {"oversold": p.oversold, "overbought": p.overbought}
    elif strategy.name == "grid":
        panels.overlays["range_low"] = bars["low"].rolling(p.lookback, min_periods=p.lookback).min()
        panels.overlays["range_high"] = (
            bars["high"].rolling(p.lookback, min_periods=p.lookback).max()
        )
        if p.max_adx is not None:
            panels.below["ADX(14)"] = {"adx": adx(bars["high"], bars["low"], close, 14)["adx_14"]}
            panels.levels["ADX(14)"] = {"max_adx": p.max_adx}
    return panels


def trade_marks(trades: pd.DataFrame, open_trade: dict[str, Any] | None) -> pd.DataFrame:
    """One row per fill: ``ts``, ``price``, ``side`` (entry/exit) and ``reason``."""
    rows: list[dict[str, Any]] = []
    for t in trades.itertuples(index=False):
        rows.append({"ts": t.entry_ts, "price": t.entry_price, "side": "entry",
                     "reason": t.entry_reason})  # fmt: skip
        rows.append({"ts": t.exit_ts, "price": t.exit_price, "side": "exit",
                     "reason": t.exit_reason})  # fmt: skip
    if open_trade:
        rows.append(
            {
                "ts": pd.Timestamp(open_trade.get("entry_ts")),
                "price": float(open_trade.get("entry_price", np.nan)),
                "side": "entry",
                "reason": str(open_trade.get("entry_reason", "open position")),
            }
        )
    marks = pd.DataFrame(rows, columns=["ts", "price", "side", "reason"])
    marks["ts"] = pd.to_datetime(marks["ts"])
    return marks


def plot_png(
    path: Path, bars: pd.DataFrame, panels: Panels, marks: pd.DataFrame, title: str
) -> Path:
    """Price (with overlays and fills) on top, one panel per indicator group below."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = 1 + len(panels.below)
    figure = Figure(figsize=(12, 4 + 2.2 * (rows - 1)), dpi=100)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(rows, 1, height_ratios=[3] + [1.3] * (rows - 1))
    price = figure.add_subplot(grid[0])
    ts = pd.DatetimeIndex(bars["ts"])
    price.plot(ts, bars["close"].to_numpy(), color="black", linewidth=0.8, label="close")
    for name, line in panels.overlays.items():
        price.plot(ts, line.to_numpy(dtype=float), linewidth=0.8, label=name)
    for side, marker, color in (("entry", "^", "green"), ("exit", "v", "red")):
        chosen = marks[marks["side"] == side]
        price.scatter(chosen["ts"], chosen["price"], marker=marker, color=color, s=36,
                      label=f"{side} ({len(chosen)})", zorder=3)  # fmt: skip
    price.set_title(title)
    price.legend(loc="upper left", fontsize=8)
    price.grid(True, alpha=0.3)
    for k, (name, lines) in enumerate(panels.below.items(), start=1):
        axes = figure.add_subplot(grid[k], sharex=price)
        for line_name, line in lines.items():
            axes.plot(ts, line.to_numpy(dtype=float), linewidth=0.8, label=line_name)
        for level_name, value in panels.levels.get(name, {}).items():
            axes.axhline(value, color="grey", linestyle=":", linewidth=0.8, label=level_name)
        axes.set_ylabel(name)
        axes.legend(loc="upper left", fontsize=8)
        axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path
