"""Multi-scope runs: one strategy over symbols x timeframes x windows -> one results table.

Each scope's indicators are computed on its window only (as the CLI's --start/--end do), so a
row is reproducible with ``trading backtest --start ... --end ...``. A scope whose data is
missing or too short gets a row with ``status`` saying why instead of stopping the run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from trading_core.backtest.config import BacktestConfig
from trading_core.backtest.data import DataError, read_ohlcv_csv, window
from trading_core.backtest.engine import run_backtest
from trading_core.backtest.result import SUMMARY_METRICS
from trading_core.quality.releases import Release
from trading_core.quality.spike_policy import SpikePolicy
from trading_core.strategies import get_strategy

Loader = Callable[[str, str], pd.DataFrame]
Window = tuple[datetime | str | None, datetime | str | None]


def csv_loader(
    directory: Path | str,
    exchange: str = "binance",
    spike_policy: SpikePolicy | None = None,
    releases: Sequence[Release] = (),
) -> Loader:
    """Bars from ``<directory>/<exchange>_<BASE><QUOTE>_<timeframe>.csv`` (the shared layout),
    through ``read_ohlcv_csv`` with ``spike_policy`` and the operator ``releases``."""
    root = Path(directory)

    def load(symbol: str, timeframe: str) -> pd.DataFrame:
        file = root / f"{exchange}_{symbol.replace('/', '')}_{timeframe}.csv"
        if not file.is_file():
            raise DataError(f"no data file {file}")
        return read_ohlcv_csv(file, spike_policy, releases)

    return load


def multi_scope(
    load: Loader,
    symbols: Sequence[str],
    timeframes: Sequence[str],
    windows: Mapping[str, Window],
    strategy: str,
    params: Mapping[str, Any] | None = None,
    config: BacktestConfig | None = None,
) -> pd.DataFrame:
    """One row per (symbol, timeframe, window): scope, window bounds, status, metrics, hash."""
    chosen = get_strategy(strategy, params)
    rows = []
    for symbol in symbols:
        for timeframe in timeframes:
            try:
                bars = load(symbol, timeframe)
            except DataError as err:
                bars, problem = None, str(err)
            for name, (start, end) in windows.items():
                row: dict[str, Any] = {"symbol": symbol, "timeframe": timeframe, "window": name}
                if bars is None:
                    rows.append({**row, "status": problem})
                    continue
                try:
                    result = run_backtest(window(bars, start, end), chosen, config)
                except DataError as err:
                    rows.append({**row, "status": str(err)})
                    continue
                rows.append(
                    {
                        **row,
                        "status": "ok",
                        "start": result.window_start,
                        "end": result.window_end,
                        "bars": result.bars,
                        **{k: result.metrics[k] for k in SUMMARY_METRICS},
                        "trade_hash": result.trade_hash,
                    }
                )
    return pd.DataFrame(rows)
