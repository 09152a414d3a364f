"""The candles of a portfolio backtest: one file per (exchange, symbol, timeframe) in a
directory of the replay layout (``binance_BTCUSDT_4h.csv``, as ``../shared/data/market``).

An instance on exchange ``X`` reads ``X_<BASE><QUOTE>_<timeframe>.csv``. The simulator
(``sim``) has no history of its own: a ``sim`` instance reads the one file of its symbol and
timeframe whatever its exchange prefix, and refuses a choice between several. The files used
are reported (``data`` in the JSON).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from trading_core.backtest.data import DataError, read_ohlcv_csv
from trading_core.config_portfolio import InstanceConfig
from trading_core.quality.releases import Release
from trading_core.quality.spike_policy import SpikePolicy

SIM_EXCHANGE = "sim"


def series_file(data_dir: Path, exchange: str, symbol: str, timeframe: str) -> Path:
    """The file of one series in ``data_dir``; a DataError naming what is missing."""
    if not data_dir.is_dir():
        raise DataError(f"--data-dir {data_dir} is not a directory")
    compact = symbol.replace("/", "")
    exact = data_dir / f"{exchange}_{compact}_{timeframe}.csv"
    if exact.is_file():
        return exact
    if exchange == SIM_EXCHANGE:
        found = sorted(data_dir.glob(f"*_{compact}_{timeframe}.csv"))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise DataError(
                f"{symbol} {timeframe} on sim: several files in {data_dir} "
                f"({[f.name for f in found]}); name the exchange of the instance instead"
            )
    raise DataError(
        f"no candles for {exchange} {symbol} {timeframe}: {exact.name} is not in {data_dir}"
        + (" (nor any *_" + f"{compact}_{timeframe}.csv)" if exchange == SIM_EXCHANGE else "")
    )


def load_instances(
    data_dir: Path,
    instances: list[InstanceConfig],
    spike_policy: SpikePolicy | None = None,
    releases: Sequence[Release] = (),
) -> tuple[dict[tuple[str, str], pd.DataFrame], dict[str, dict[str, str]]]:
    """Bars per (instance id, symbol), and the file name each came from, through the spike
    hold (``spike_policy``: ``spike_policy_of(config.market)``; ``releases``: the operator's
    release ledger), as ``read_ohlcv_csv`` reads them."""
    bars: dict[tuple[str, str], pd.DataFrame] = {}
    used: dict[str, dict[str, str]] = {}
    cache: dict[Path, pd.DataFrame] = {}
    for inst in instances:
        for symbol in inst.symbols:
            path = series_file(data_dir, inst.exchange, symbol, inst.timeframe)
            if path not in cache:
                cache[path] = read_ohlcv_csv(path, spike_policy, releases)
            bars[(inst.id, symbol)] = cache[path]
            used.setdefault(inst.id, {})[symbol] = path.name
    return bars, used
