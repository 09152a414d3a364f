"""The one place a market source is chosen: by configuration (``market.source``), never by
``if test:`` in an asset."""

from __future__ import annotations

from typing import Any

from trading_core.config import ConfigError, MarketConfig
from trading_core.market.base import MarketSource
from trading_core.market.replay import ReplayMarket
from trading_core.market.sim import SimMarket


def make_market_source(cfg: MarketConfig, **overrides: Any) -> MarketSource:
    """The backend ``cfg.source`` names: ``sim`` (seeded, offline), ``replay`` (files in
    ``cfg.replay_dir``) or ``ccxt`` (live exchanges, public data).

    ``overrides`` go to the backend's constructor and win over the configuration (tests pass
    ``clients=`` for ccxt, ``order_book_dir=`` for replay, ``seed=`` for sim).
    """
    if cfg.source == "sim":
        return SimMarket(**{"seed": cfg.sim_seed, "exchanges": cfg.exchanges, **overrides})
    if cfg.source == "replay":
        if cfg.replay_dir is None:
            raise ConfigError(
                "market.replay_dir (env TRADING_REPLAY_DIR) must be set when market.source is "
                "'replay': a directory of {exchange}_{BASEQUOTE}_{timeframe}.csv files"
            )
        if not cfg.replay_dir.is_dir():
            raise ConfigError(
                f"market.replay_dir (env TRADING_REPLAY_DIR) is {cfg.replay_dir}, "
                "which is not a directory"
            )
        defaults = {"seed": cfg.sim_seed, "timestamp_unit": cfg.timestamp_unit}
        return ReplayMarket(cfg.replay_dir, **{**defaults, **overrides})
    if cfg.source == "ccxt":
        import ccxt  # only the live backend pays for importing ccxt

        from trading_core.market.ccxt_source import CcxtMarket

        unknown = [e for e in cfg.exchanges if e not in ccxt.exchanges]
        if unknown:
            raise ConfigError(
                f"market.exchanges (env TRADING_EXCHANGES): {unknown} are not ccxt exchange ids; "
                "list them with `python -c 'import ccxt; print(ccxt.exchanges)'`"
            )
        market = CcxtMarket(**overrides)
        if cfg.archive_url is None:
            return market
        from trading_core.config import trading_home
        from trading_core.market.archive_source import ArchiveMarket
        from trading_core.market.binance_archive import ArchiveClient

        return ArchiveMarket(market, ArchiveClient(cfg.archive_url, trading_home() / "archive"))
    raise ConfigError(f"market.source {cfg.source!r}; allowed: ['sim', 'replay', 'ccxt']")
