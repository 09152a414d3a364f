"""Fixtures of the bias-tool and user-strategy tests: real candles, example files, cleanup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from trading_core.backtest import read_ohlcv_csv
from trading_core.strategies import STRATEGIES
from trading_core.strategies.registry import refresh_entry_points


@pytest.fixture(autouse=True)
def _forget_user_strategies() -> Iterator[None]:
    """Each test starts and ends with only the built-ins (and installed entry points)."""
    yield
    for name in list(STRATEGIES):
        if not STRATEGIES.is_builtin(name) and STRATEGIES.origin(name) is not None:
            STRATEGIES.unregister(name)
    refresh_entry_points()


@pytest.fixture(scope="session")
def btc_1d(shared_data: Path) -> pd.DataFrame:
    return read_ohlcv_csv(shared_data / "market" / "binance_BTCUSDT_1d.csv")


@pytest.fixture(scope="session")
def xrp_1d(shared_data: Path) -> pd.DataFrame:
    return read_ohlcv_csv(shared_data / "market" / "binance_XRPUSDT_1d.csv")
