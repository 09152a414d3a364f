"""``TradingConfig``: the whole configuration tree, one field per section.

Each section is its own model in a ``config_*`` module; this one only assembles them, with
their defaults. Loading it from a file and the environment: ``trading_core.config_loader``.
"""

from __future__ import annotations

from pydantic import Field

from trading_core.config_alerts import AlertsConfig
from trading_core.config_base import SectionModel
from trading_core.config_cockpit import CockpitConfig
from trading_core.config_drift import DriftConfig
from trading_core.config_executor import ExecutorConfig, FeesConfig
from trading_core.config_feeds import NewsConfig, OnchainConfig, SocialConfig
from trading_core.config_market import MarketConfig
from trading_core.config_operations import OperationsConfig, RetentionConfig
from trading_core.config_overrides import OverridesConfig
from trading_core.config_portfolio import ProtocolConfig, StrategyInstances
from trading_core.config_strategy import RiskConfig, StrategyConfig


class TradingConfig(SectionModel):
    # Strategy instances (None: today's strategy/risk settings make one instance `default`)
    # and the risk protocol: trading_core/config_portfolio.py.
    strategies: StrategyInstances = StrategyInstances()
    protocol: ProtocolConfig = ProtocolConfig()
    market: MarketConfig = MarketConfig()
    social: SocialConfig = SocialConfig()
    news: NewsConfig = NewsConfig()
    onchain: OnchainConfig = OnchainConfig()
    # A factory, not an instance: validating the strategy imports the strategies (on use).
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    risk: RiskConfig = RiskConfig()
    fees: FeesConfig = FeesConfig()
    executor: ExecutorConfig = ExecutorConfig()
    operations: OperationsConfig = OperationsConfig()
    retention: RetentionConfig = RetentionConfig()
    alerts: AlertsConfig = AlertsConfig()
    cockpit: CockpitConfig = CockpitConfig()
    drift: DriftConfig = DriftConfig()
    overrides: OverridesConfig = OverridesConfig()  # operator overrides' limits
