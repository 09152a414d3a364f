"""One configuration for every process: the code location, the executor and the CLI.

Precedence: built-in defaults < YAML file (``TRADING_CONFIG``, else ``$TRADING_HOME/trading.yaml``
if it exists) < the environment variables in ``ENV_OVERRIDES``. A bad value fails at load time
with an error that names the field (and its variable) and the allowed values: every number is
finite, cross-field limits hold, strategy parameters are checked by the strategy's own model,
replay directories and feed files exist, and a variable that is set but empty is an error,
never a silent default. Secrets never live here: they are read from the environment (or secret
files) by the clients that need them.

This module is the one import path for all of it; the rooms behind it:

- ``config_schema``: ``TradingConfig``, the tree of sections; the sections themselves in
  ``config_market``, ``config_feeds`` (social, news, onchain), ``config_strategy`` (strategy,
  risk), ``config_executor`` (fees, executor), ``config_operations`` (operations, retention),
  ``config_portfolio`` / ``config_protocol``, ``config_alerts``, ``config_cockpit``,
  ``config_drift`` and ``config_overrides``, on the shared base of ``config_base``;
- ``config_env``: the environment variables and their errors;
- ``config_loader``: ``load_config`` and the process-wide ``get_config``;
- ``config_paths``: ``TRADING_HOME`` and every location under it.
"""

from __future__ import annotations

from trading_core.config_base import ConfigError
from trading_core.config_env import ENV_OVERRIDES
from trading_core.config_executor import ExecutorConfig, ExecutorMode, FeesConfig
from trading_core.config_feeds import NewsConfig, OnchainConfig, SocialConfig, SocialSource
from trading_core.config_loader import get_config, load_config
from trading_core.config_market import MarketConfig, MarketSource, TimestampUnit
from trading_core.config_operations import OperationsConfig, RetentionConfig
from trading_core.config_paths import PRIVATE_DIR_MODE, Paths, get_paths, trading_home
from trading_core.config_schema import TradingConfig
from trading_core.config_strategy import DEFAULT_STRATEGY_PARAMS, RiskConfig, StrategyConfig

__all__ = [
    "DEFAULT_STRATEGY_PARAMS",
    "ENV_OVERRIDES",
    "PRIVATE_DIR_MODE",
    "ConfigError",
    "ExecutorConfig",
    "ExecutorMode",
    "FeesConfig",
    "MarketConfig",
    "MarketSource",
    "NewsConfig",
    "OnchainConfig",
    "OperationsConfig",
    "Paths",
    "RetentionConfig",
    "RiskConfig",
    "SocialConfig",
    "SocialSource",
    "StrategyConfig",
    "TimestampUnit",
    "TradingConfig",
    "get_config",
    "get_paths",
    "load_config",
    "trading_home",
]
