"""The closes the correlation limit reads in a backtest: per symbol, the bars of
``correlation.timeframe`` built from the lanes' bars (the last close of each period, the
period closed once its last lane bar has), as the executor fetches them from the exchange.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import numpy as np

from trading_core.config_protocol import CorrelationConfig
from trading_core.portfolio_backtest.lanes import Lane
from trading_core.protocol.correlation import Closes, window_start
from trading_core.timeframes import timeframe_seconds

EPOCH = datetime(1970, 1, 1)


def _ns(moment: datetime) -> int:
    return int((moment - EPOCH).total_seconds() * 1_000_000) * 1000


class CloseHistory:
    def __init__(self, lanes: list[Lane], config: CorrelationConfig) -> None:
        self.config = config
        self.step = np.int64(timeframe_seconds(config.timeframe)) * np.int64(1_000_000_000)
        self.series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for lane in lanes:  # the first lane of a symbol gives its closes
            if lane.symbol in self.series:
                continue
            opens = lane.ts_ns.astype(np.int64)
            closes = np.asarray(lane.c, dtype=float)
            period = opens - opens % self.step
            last = np.flatnonzero(np.append(period[1:] != period[:-1], True))
            # A period is complete when its last bar closes at the period's end.
            ends = lane.close_ns[last]
            complete = ends >= period[last] + self.step
            self.series[lane.symbol] = (period[last][complete], closes[last][complete])

    def closes_at(self, moment: datetime, symbols: Iterable[str], symbol: str) -> dict[str, Closes]:
        """Per symbol (those held and ``symbol``), the bars opened since ``window_start`` and
        closed by ``moment``."""
        now = _ns(moment)
        start = _ns(window_start(moment, self.config))
        out: dict[str, Closes] = {}
        for name in {*symbols, symbol}:
            if name not in self.series:
                continue
            opens, closes = self.series[name]
            keep = (opens >= start) & (opens + self.step <= now)
            out[name] = (opens[keep].tolist(), closes[keep].tolist())
        return out
