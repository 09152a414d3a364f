"""The market source is chosen by configuration, with errors that name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from trading_core.config import ConfigError, MarketConfig, load_config
from trading_core.market.base import MarketSource
from trading_core.market.ccxt_source import CcxtMarket
from trading_core.market.factory import make_market_source
from trading_core.market.replay import ReplayMarket
from trading_core.market.sim import SimMarket


def test_the_embedded_default_is_the_sim_market_with_the_configured_seed() -> None:
    source = make_market_source(MarketConfig(sim_seed=11))
    assert isinstance(source, SimMarket) and isinstance(source, MarketSource)
    assert source.seed == 11 and source.exchanges == ("sim",)
    assert make_market_source(MarketConfig(), seed=3).seed == 3


def test_replay_reads_the_configured_directory(shared_data: Path, tmp_path: Path) -> None:
    environ = {
        "TRADING_HOME": str(tmp_path),  # no trading.yaml there
        "TRADING_MARKET_SOURCE": "replay",
        "TRADING_REPLAY_DIR": str(shared_data / "market"),
        # a replay needs a file for every configured series
        "TRADING_EXCHANGES": "binance",
        "TRADING_SYMBOLS": "BTC/USDT",
        "TRADING_TIMEFRAMES": "1h",
        "TRADING_STRATEGY_TIMEFRAME": "1h",
        "TRADING_EXECUTOR_EXCHANGE": "binance",
    }
    config = load_config(environ=environ)
    source = make_market_source(config.market)
    assert isinstance(source, ReplayMarket) and len(source.available()) == 13


@pytest.mark.parametrize("replay_dir", [None, "missing-dir"])
def test_replay_without_a_directory_names_trading_replay_dir(
    tmp_path: Path, replay_dir: str | None
) -> None:
    config = MarketConfig(
        source="replay", replay_dir=None if replay_dir is None else tmp_path / replay_dir
    )
    with pytest.raises(ConfigError, match="TRADING_REPLAY_DIR"):
        make_market_source(config)


def test_ccxt_checks_exchange_ids_and_takes_clients() -> None:
    source = make_market_source(
        MarketConfig(source="ccxt", exchanges=["binance", "kraken"]), page_limit=500
    )
    assert isinstance(source, CcxtMarket) and source.page_limit == 500
    with pytest.raises(ConfigError, match=r"TRADING_EXCHANGES.*\['binanse'\]"):
        make_market_source(MarketConfig(source="ccxt", exchanges=["binanse"]))
