"""Which bars may decide, and on what history: the live path's view of held spikes.

Live decides at each bar's close on the bars ``stg_ohlcv`` has by then. A bar the spike hold
held at its close is no decision point (``evaluate_bar`` skips it), and while it is held the
decisions of later bars are computed without it; once released (by later bars or an
operator) it is history for every later decision. ``trading_core.backtest.data.hold_spikes``
marks such bars with the column ``visible_from`` (the open time of the first bar at whose
close live has them; bars never released are not in the frame at all), and
``decision_signals`` is the one place both backtesters (``run_backtest`` and the portfolio
lanes) turn a strategy's signals into decisions with it. A frame without the column (no bar
held) is the strategy's signals as they are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trading_core.strategies import Strategy

VISIBLE_FROM = "visible_from"


def may_decide(bars: pd.DataFrame) -> np.ndarray:
    """Per bar: True when live had it at its close (a decision point)."""
    if VISIBLE_FROM not in bars.columns:
        return np.ones(len(bars), dtype=bool)
    return (bars[VISIBLE_FROM] <= bars["ts"]).to_numpy()


def affected_rows(bars: pd.DataFrame) -> list[int]:
    """Positions of the bars decided while some bar was held: from each held bar up to the
    bar whose close released it (the held bars themselves included)."""
    if VISIBLE_FROM not in bars.columns:
        return []
    ts = bars["ts"].to_numpy()
    visible = bars[VISIBLE_FROM].to_numpy()
    late = np.flatnonzero(visible > ts)
    ends = np.searchsorted(ts, visible[late], side="left")
    return sorted({i for j, end in zip(late, ends, strict=True) for i in range(j, end)})


def only_held_affected(bars: pd.DataFrame) -> bool:
    """Whether every bar decided while a bar was held is itself held: then live's decisions
    are the strategy's signals on all the bars with the held bars' entries and exits off
    (``may_decide``), which a vectorised sweep can apply as a mask."""
    decide = may_decide(bars)
    return not any(decide[i] for i in affected_rows(bars))


def decision_signals(strategy: Strategy, bars: pd.DataFrame) -> pd.DataFrame:
    """``strategy.signals`` as live decides them: every bar's row computed on the bars live
    had at its close (a bar held then has no entry and no exit)."""
    if VISIBLE_FROM not in bars.columns:
        return strategy.signals(bars)
    prices = bars.drop(columns=VISIBLE_FROM)
    signals = strategy.signals(prices).copy()
    ts = bars["ts"].to_numpy()
    visible = bars[VISIBLE_FROM].to_numpy()
    # decisions taken while a bar was still held: from it up to the bar that released it
    for i in affected_rows(bars):
        row = signals.index[i]
        if visible[i] > ts[i]:
            signals.loc[row, ["entry", "exit"]] = False
            continue
        seen = prices.iloc[: i + 1][visible[: i + 1] <= ts[i]].reset_index(drop=True)
        last = strategy.signals(seen).iloc[-1]
        for column in signals.columns:
            signals.loc[row, column] = last[column]
    return signals
