"""The correlation limit (``ProtocolConfig.correlation``): an entry is refused when
``max_correlated`` (3) open positions already move with it - their rolling return
correlation with the entry's symbol (the last ``window`` (30) returns at ``timeframe``
(``1d``), on the bar opens both series have) above ``threshold`` (0.8).

A position on the same symbol (another instance's) correlates 1. A pair without
``window + 1`` common closes, or with a constant series, has no correlation and does not
count (the reasons name the pairs that did). Closes are the bars of ``timeframe`` opened
since ``window_start`` and closed by the decision's instant: the backtester resamples its
bars, the executor fetches the exchange's. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from trading_core.config_protocol import CorrelationConfig
from trading_core.timeframes import timeframe_seconds

# Per symbol: (bar open instants as int ns, closes), ascending.
Closes = tuple[Sequence[int], Sequence[float]]


def window_start(now: datetime, config: CorrelationConfig) -> datetime:
    """The bars both engines read: opened at or after this, closed by ``now``
    (``2 x (window + 1)`` bars of ``timeframe``, room for a few missing ones)."""
    return now - timedelta(seconds=timeframe_seconds(config.timeframe) * 2 * (config.window + 1))


def returns_correlation(a: Closes, b: Closes, window: int) -> float:
    """Pearson correlation of the last ``window`` simple returns on common instants."""
    ta, ca = np.asarray(a[0], dtype=np.int64), np.asarray(a[1], dtype=float)
    tb, cb = np.asarray(b[0], dtype=np.int64), np.asarray(b[1], dtype=float)
    common, ia, ib = np.intersect1d(ta, tb, assume_unique=True, return_indices=True)
    if common.size < window + 1:
        return math.nan
    xa = ca[ia][-(window + 1) :]
    xb = cb[ib][-(window + 1) :]
    if not (np.isfinite(xa).all() and np.isfinite(xb).all()) or (xa <= 0).any() or (xb <= 0).any():
        return math.nan
    ra = xa[1:] / xa[:-1] - 1.0
    rb = xb[1:] / xb[:-1] - 1.0
    sa, sb = ra.std(), rb.std()
    if sa <= 1e-15 or sb <= 1e-15:
        return math.nan
    return float(np.mean((ra - ra.mean()) * (rb - rb.mean())) / (sa * sb))


@dataclass(frozen=True)
class CorrelationVerdict:
    correlated: tuple[tuple[str, float], ...]  # (position key, correlation) above threshold
    refused: bool
    detail: str


def check(
    symbol: str,
    open_positions: Mapping[str, str],  # position key -> its symbol
    closes: Mapping[str, Closes],
    config: CorrelationConfig,
) -> CorrelationVerdict:
    if not config.enabled:
        return CorrelationVerdict((), False, "")
    found: list[tuple[str, float]] = []
    cache: dict[str, float] = {}
    for key in sorted(open_positions):
        other = open_positions[key]
        if other == symbol:
            corr = 1.0
        else:
            if other not in cache:
                mine, theirs = closes.get(symbol), closes.get(other)
                cache[other] = (
                    returns_correlation(mine, theirs, config.window)
                    if mine is not None and theirs is not None
                    else math.nan
                )
            corr = cache[other]
        if math.isfinite(corr) and corr > config.threshold:
            found.append((key, round(corr, 6)))
    refused = len(found) >= config.max_correlated
    detail = (
        f"{len(found)} open positions correlate above {config.threshold:g} with {symbol} "
        f"(allowed {config.max_correlated}): " + ", ".join(f"{k} {c:.3f}" for k, c in found)
        if found
        else ""
    )
    return CorrelationVerdict(tuple(found), refused, detail)
