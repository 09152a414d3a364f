"""`trading replay --config`: what it refuses before any engine starts (fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trading_core.backtest.data import DataError
from trading_core.config import TradingConfig
from trading_pipelines.replay.portfolio import SymbolMarket, run_portfolio_replay


def config(*exchanges: str) -> TradingConfig:
    listed = [
        {"id": f"i{n}", "strategy": "macd", "exchange": ex, "symbols": ["BTC/USDT"],
         "timeframe": "1h", "allocation": 0.3}
        for n, ex in enumerate(exchanges)
    ]  # fmt: skip
    return TradingConfig.model_validate({"strategies": listed})


def test_instances_on_two_exchanges_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one exchange account; the instances use"):
        run_portfolio_replay(config("sim", "binance"), tmp_path)


def test_a_window_that_ends_before_it_starts_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--end 2022-01-01 is before --start 2022-02-01"):
        run_portfolio_replay(config("sim"), tmp_path, "2022-02-01", "2022-01-01")


def test_a_missing_data_directory_or_file_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is not a directory"):
        run_portfolio_replay(config("sim"), tmp_path / "nowhere")
    with pytest.raises(DataError, match="no candles for sim BTC/USDT 1h"):
        run_portfolio_replay(config("sim"), tmp_path)


def test_the_replay_market_books_the_close_with_the_slippage_either_side() -> None:
    from datetime import datetime

    import pandas as pd

    bars = pd.DataFrame(
        {"ts": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 01:00"]), "open": [1.0, 2.0],
         "high": [1.5, 2.5], "low": [0.5, 1.5], "close": [1.2, 2.2]}
    )  # fmt: skip
    market = SymbolMarket("sim", "1h", {"BTC/USDT": bars}, 10.0, datetime(2024, 1, 1, 1))
    market.books["BTC/USDT"] = 100.0
    book = market.fetch_order_book("sim", "BTC/USDT", 1)
    assert (book.bids[0][0], book.asks[0][0]) == pytest.approx((99.9, 100.1))
    # closed candles only, and only the replay's timeframe
    assert (
        len(market.fetch_ohlcv("sim", "BTC/USDT", "1h", datetime(2024, 1, 1), datetime(2025, 1, 1)))
        == 1
    )
    assert market.fetch_ohlcv(
        "sim", "BTC/USDT", "4h", datetime(2024, 1, 1), datetime(2025, 1, 1)
    ).empty
    assert market.fetch_ohlcv(
        "sim", "ETH/USDT", "1h", datetime(2024, 1, 1), datetime(2025, 1, 1)
    ).empty
