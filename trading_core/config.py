"""One configuration for every process: the code location, the executor and the CLI.

Precedence: built-in defaults < YAML file (``TRADING_CONFIG``, else ``$TRADING_HOME/trading.yaml``
if it exists) < the environment variables in ``ENV_OVERRIDES``. A bad value fails with an error
that names the field and the allowed values. Secrets never live here: they are read from the
environment (or secret files) by the clients that need them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trading_core.timeframes import TIMEFRAME_SECONDS

MarketSource = Literal["sim", "replay", "ccxt"]
SocialSource = Literal["replay", "live"]
ExecutorMode = Literal["paper", "testnet", "live"]


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the field and what is allowed."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MarketConfig(_Model):
    source: MarketSource = "sim"
    # Exchange ids. `sim` for the simulator; any ccxt id (binance, kraken, ...) for ccxt;
    # for replay, the file prefix in TRADING_REPLAY_DIR (binance_BTCUSDT_1h.csv -> binance).
    exchanges: list[str] = Field(default_factory=lambda: ["sim"], min_length=1)
    # Unified ccxt symbols (BTC/USDT). Partition keys use BTC-USDT.
    symbols: list[str] = Field(
        default_factory=lambda: ["BTC/USDT", "ETH/USDT", "SOL/USDT"], min_length=1
    )
    timeframes: list[str] = Field(default_factory=lambda: ["1m", "1h"], min_length=1)
    # First daily partition of raw/ohlcv and raw/order_book_snapshots.
    start_date: date = date(2025, 1, 1)
    replay_dir: Path | None = None
    sim_seed: int = 7
    order_book_depth: int = Field(default=20, ge=1, le=5000)
    # Candles re-fetched on every incremental run: exchanges correct late data.
    refetch_candles: int = Field(default=3, ge=0)
    max_gap_ratio: float = Field(default=0.02, ge=0, le=1)
    max_abs_log_return: float = Field(default=0.25, gt=0)
    # View the market as of this instant (naive UTC): only candles closed by then exist.
    # Paper trading over history (replay, sim) sets it; None: the wall clock.
    as_of: datetime | None = None

    @field_validator("timeframes")
    @classmethod
    def _known_timeframes(cls, value: list[str]) -> list[str]:
        bad = [tf for tf in value if tf not in TIMEFRAME_SECONDS]
        if bad:
            raise ValueError(f"unknown timeframe(s) {bad}; allowed: {list(TIMEFRAME_SECONDS)}")
        return value

    @field_validator("symbols")
    @classmethod
    def _unified_symbols(cls, value: list[str]) -> list[str]:
        bad = [s for s in value if s.count("/") != 1 or any(c in s for c in "|,[] ")]
        if bad:
            raise ValueError(f"symbols must look like BASE/QUOTE (e.g. BTC/USDT); got {bad}")
        return value


class SocialConfig(_Model):
    source: SocialSource = "replay"
    # Directory in the layout of ../shared/data/social (JSON lines). None: the embedded sample.
    replay_dir: Path | None = None
    subreddits: list[str] = Field(default_factory=lambda: ["cryptocurrency", "bitcoin"])
    x_query: str = "(#BTC OR #bitcoin OR #crypto) -is:retweet lang:en"
    max_items: int = Field(default=200, ge=1)
    # The shared Reddit scrape stores naive local times of its scraper (UTC+1).
    reddit_source_timezone: str = "Africa/Casablanca"


class NewsConfig(_Model):
    # Feed URLs or local file paths; feedparser reads both. Empty: the embedded sample.
    feeds: list[str] = Field(default_factory=list)


class OnchainConfig(_Model):
    source: SocialSource = "replay"
    # Directory in the layout of ../shared/data/onchain. None: the embedded sample.
    replay_dir: Path | None = None
    base_url: str = "https://api.blockchain.info/charts"
    metrics: list[str] = Field(
        default_factory=lambda: ["hash_rate", "n_transactions", "market_price"]
    )


class StrategyConfig(_Model):
    name: str = "macd"
    timeframe: str = "1m"
    # Parameters are validated by the strategy's own parameter model.
    params: dict[str, Any] = Field(default_factory=lambda: {"fast": 5, "slow": 13, "signal": 4})
    # Bars of history handed to the strategy at each live evaluation.
    lookback_bars: int = Field(default=300, ge=10)


class RiskConfig(_Model):
    position_fraction: float = Field(default=0.2, gt=0, le=1)
    stop_loss_pct: float = Field(default=0.02, gt=0, lt=1)
    take_profit_pct: float = Field(default=0.04, gt=0)
    trailing_stop_pct: float | None = Field(default=None, gt=0, lt=1)
    max_open_positions: int = Field(default=3, ge=1)
    max_trades_per_day: int = Field(default=50, ge=1)
    max_drawdown_pct: float = Field(default=0.2, gt=0, lt=1)
    min_notional: float = Field(default=5.0, ge=0)
    max_notional: float = Field(default=1000.0, gt=0)
    blacklist: list[str] = Field(default_factory=list)


class FeesConfig(_Model):
    maker: float = Field(default=0.001, ge=0, lt=0.1)
    taker: float = Field(default=0.001, ge=0, lt=0.1)
    slippage_bps: float = Field(default=0.0, ge=0)
    max_slippage_bps: float = Field(default=50.0, ge=0)


class ExecutorConfig(_Model):
    mode: ExecutorMode = "paper"
    exchange: str = "sim"
    quote_currency: str = "USDT"
    starting_cash: float = Field(default=500.0, gt=0)
    tick_seconds: float = Field(default=1.0, gt=0)
    reconcile_every_ticks: int = Field(default=60, ge=1)
    # Order handling (not risk limits): an unfilled limit order is repriced after
    # limit_timeout_seconds, at most max_reprices times; an order whose answer was lost is
    # queried by client order id after unknown_order_grace_seconds, and given up after
    # max_unknown_lookups "not found" answers.
    limit_timeout_seconds: float = Field(default=300.0, ge=0)
    max_reprices: int = Field(default=3, ge=0)
    unknown_order_grace_seconds: float = Field(default=10.0, ge=0)
    max_unknown_lookups: int = Field(default=5, ge=1)
    post_only_limits: bool = False
    paper_latency_ms: float = Field(default=0.0, ge=0)
    # Dagster webserver for REST reports of execution/orders and execution/fills.
    dagster_url: str = "http://127.0.0.1:3000"


class TradingConfig(_Model):
    market: MarketConfig = MarketConfig()
    social: SocialConfig = SocialConfig()
    news: NewsConfig = NewsConfig()
    onchain: OnchainConfig = OnchainConfig()
    strategy: StrategyConfig = StrategyConfig()
    risk: RiskConfig = RiskConfig()
    fees: FeesConfig = FeesConfig()
    executor: ExecutorConfig = ExecutorConfig()


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


# Environment variable -> (dotted field path, parser). The documented overrides.
ENV_OVERRIDES: dict[str, tuple[str, Any]] = {
    "TRADING_MARKET_SOURCE": ("market.source", str),
    "TRADING_EXCHANGES": ("market.exchanges", _csv),
    "TRADING_SYMBOLS": ("market.symbols", _csv),
    "TRADING_TIMEFRAMES": ("market.timeframes", _csv),
    "TRADING_START_DATE": ("market.start_date", str),
    "TRADING_REPLAY_DIR": ("market.replay_dir", str),
    "TRADING_SIM_SEED": ("market.sim_seed", int),
    "TRADING_MARKET_AS_OF": ("market.as_of", str),
    "TRADING_SOCIAL_SOURCE": ("social.source", str),
    "TRADING_SOCIAL_DIR": ("social.replay_dir", str),
    "TRADING_REDDIT_TIMEZONE": ("social.reddit_source_timezone", str),
    "TRADING_NEWS_FEEDS": ("news.feeds", _csv),
    "TRADING_ONCHAIN_SOURCE": ("onchain.source", str),
    "TRADING_ONCHAIN_DIR": ("onchain.replay_dir", str),
    "TRADING_STRATEGY": ("strategy.name", str),
    "TRADING_STRATEGY_TIMEFRAME": ("strategy.timeframe", str),
    "TRADING_EXECUTOR_MODE": ("executor.mode", str),
    "TRADING_EXECUTOR_EXCHANGE": ("executor.exchange", str),
    "TRADING_DAGSTER_URL": ("executor.dagster_url", str),
}


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _format_validation_error(err: ValidationError, origin: str) -> str:
    lines = [f"invalid trading configuration ({origin}):"]
    for problem in err.errors():
        field = ".".join(str(p) for p in problem["loc"])
        env = next((k for k, (path, _) in ENV_OVERRIDES.items() if path == field), None)
        where = f"{field} (env {env})" if env else field
        allowed = problem.get("ctx", {}).get("expected")
        msg = problem["msg"]
        if allowed and str(allowed) not in msg:
            msg = f"{msg}; allowed: {allowed}"
        lines.append(f"  {where}: {msg} (got {problem.get('input')!r})")
    return "\n".join(lines)


def load_config(
    path: Path | str | None = None, environ: dict[str, str] | None = None
) -> TradingConfig:
    """Build the configuration from defaults, an optional YAML file and the environment."""
    env = os.environ if environ is None else environ
    tree: dict[str, Any] = {}
    origin = "defaults"
    file = Path(path) if path else _default_config_file(env)
    if file is not None:
        if not file.is_file():
            raise ConfigError(f"TRADING_CONFIG points to {file}, which is not a file")
        loaded = yaml.safe_load(file.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{file}: the top level must be a mapping of sections")
        tree = loaded
        origin = str(file)
    for var, (field, parse) in ENV_OVERRIDES.items():
        raw = env.get(var)
        if raw not in (None, ""):
            try:
                _set_path(tree, field, parse(raw))
            except ValueError as exc:
                raise ConfigError(f"{var} ({field}): cannot parse {raw!r}: {exc}") from exc
            origin += f" + {var}"
    try:
        return TradingConfig.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, origin)) from None


def _default_config_file(env: os._Environ[str] | dict[str, str]) -> Path | None:
    explicit = env.get("TRADING_CONFIG")
    if explicit:
        return Path(explicit)
    candidate = trading_home(env) / "trading.yaml"
    return candidate if candidate.is_file() else None


@cache
def get_config() -> TradingConfig:
    """The process-wide configuration (read once)."""
    return load_config()


def trading_home(environ: os._Environ[str] | dict[str, str] | None = None) -> Path:
    """The one root: ``TRADING_HOME`` made absolute (default ``./.trading``)."""
    env = os.environ if environ is None else environ
    return Path(env.get("TRADING_HOME") or ".trading").expanduser().resolve()


@dataclass(frozen=True)
class Paths:
    """Every location under the one root. Dagster, dbt and the executor resolve the same ones."""

    home: Path

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def samples(self) -> Path:
        """Embedded offline samples, regenerated for recent days (never copies of shared data)."""
        return self.home / "samples"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def ledger_file(self) -> Path:
        return self.home / "ledger.sqlite"

    @property
    def executor_state(self) -> Path:
        return self.home / "executor"

    def ledger_url(self, environ: os._Environ[str] | dict[str, str] | None = None) -> str:
        env = os.environ if environ is None else environ
        return env.get("TRADING_LEDGER_URL") or f"sqlite:///{self.ledger_file}"

    def ensure(self) -> Paths:
        for folder in (self.home, self.lake, self.reports, self.dagster_home, self.executor_state):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def get_paths(environ: os._Environ[str] | dict[str, str] | None = None) -> Paths:
    return Paths(trading_home(environ))
