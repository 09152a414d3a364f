"""One configuration for every process: the code location, the executor and the CLI.

Precedence: built-in defaults < YAML file (``TRADING_CONFIG``, else ``$TRADING_HOME/trading.yaml``
if it exists) < the environment variables in ``ENV_OVERRIDES``. A bad value fails at load time
with an error that names the field (and its variable) and the allowed values: every number is
finite, cross-field limits hold, strategy parameters are checked by the strategy's own model,
replay directories and feed files exist, and a variable that is set but empty is an error,
never a silent default. Secrets never live here: they are read from the environment (or secret
files) by the clients that need them.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import stat
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from trading_core.config_alerts import ALERT_ENV_OVERRIDES, AlertsConfig
from trading_core.config_cockpit import CockpitConfig
from trading_core.config_drift import DriftConfig
from trading_core.config_fees import PaperFeeCurrency
from trading_core.config_overrides import OverridesConfig
from trading_core.quality.gap_policy import DEFAULT_MAX_GAP_CANDLES, DEFAULT_MAX_GAP_RATIO
from trading_core.quality.spike_policy import DEFAULT_CONFIRM_BARS, MAX_CONFIRM_BARS
from trading_core.timeframes import TIMEFRAME_SECONDS, naive_utc, utc_now

MarketSource = Literal["sim", "replay", "ccxt"]
SocialSource = Literal["replay", "live"]
ExecutorMode = Literal["paper", "testnet", "live"]
TimestampUnit = Literal["iso", "s", "ms", "us", "ns"]  # candle_file.EPOCH_UNITS + iso

log = logging.getLogger(__name__)

# TRADING_HOME and its folders: only the owner may list or open them.
PRIVATE_DIR_MODE = 0o700


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the field and what is allowed."""


class _Model(BaseModel):
    # allow_inf_nan=False: NaN and infinity are refused in every float field.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _no_duplicates(value: list[str]) -> list[str]:
    repeated = sorted({item for item in value if value.count(item) > 1})
    if repeated:
        raise ValueError(f"duplicate entries {repeated}; list each one once")
    return value


def _check_timeframe(value: str) -> str:
    if value not in TIMEFRAME_SECONDS:
        raise ValueError(f"unknown timeframe {value!r}; allowed: {list(TIMEFRAME_SECONDS)}")
    return value


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
    # Gap policy (trading_core/quality/gap_policy.py): every missing candle is reported as a
    # WARN with its position; a partition is blocked (kept out of the signals) only when one
    # series misses more than max_gap_candles consecutive candles, or more than max_gap_ratio
    # of one UTC day's candles (24 for 1h, 1 for 1d). Exactly at a limit is allowed.
    max_gap_candles: int = Field(default=DEFAULT_MAX_GAP_CANDLES, ge=0)
    max_gap_ratio: float = Field(default=DEFAULT_MAX_GAP_RATIO, ge=0, le=1)
    max_abs_log_return: float = Field(default=0.25, gt=0)
    # Spike hold (trading_core/quality/spike_policy.py): a held bar is released once this
    # many later bars confirm its level (none reverts toward the old one).
    spike_confirm_bars: int = DEFAULT_CONFIRM_BARS
    # Unit of epoch timestamps in replay files: iso | s | ms | us | ns; None: detected from
    # their magnitude (trading_core/market/candle_file.py). A line in another unit is
    # quarantined, never read in the wrong unit.
    timestamp_unit: TimestampUnit | None = None
    # Binance history from its public kline archive (trading_core/market/archive_source.py)
    # when market.source is ccxt: the archive's base URL (https://data.binance.vision), or
    # None for REST only. Files are verified by sha256 and cached in TRADING_HOME/archive.
    archive_url: str | None = None
    # View the market as of this instant (naive UTC): only candles closed by then exist.
    # Paper trading over history (replay, sim) sets it; None: the wall clock. `make run`
    # plays the market forward from it (trading_core.market.clock).
    as_of: datetime | None = None
    # Wall seconds per bar of the shortest timeframe while `make run` plays history forward.
    replay_pace_seconds: float = Field(default=60.0, gt=0, le=86_400)
    # The wall instant (naive UTC) at which the played market stood at as_of: set by
    # `make run` for the processes it starts. None: the market stands still at as_of.
    replay_started_at: datetime | None = None

    @field_validator("archive_url")
    @classmethod
    def _archive_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(
                f"archive_url {value!r} is not an http(s) URL; e.g. https://data.binance.vision"
            )
        return value

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

    _unique = field_validator("exchanges", "symbols", "timeframes")(_no_duplicates)

    @field_validator("spike_confirm_bars", mode="before")
    @classmethod
    def _whole_bars(cls, value: object) -> int:
        bars = value.strip() if isinstance(value, str) else value
        if isinstance(bars, str) and bars.lstrip("-").isdigit():
            bars = int(bars)
        if isinstance(bars, float) and bars.is_integer():
            bars = int(bars)
        if isinstance(bars, bool) or not isinstance(bars, int) or not 1 <= bars <= MAX_CONFIRM_BARS:
            raise ValueError(
                f"must be a whole number of bars; allowed: an integer from 1 to {MAX_CONFIRM_BARS}"
            )
        return bars

    @field_validator("start_date")
    @classmethod
    def _past_start(cls, value: date) -> date:
        today = utc_now().date()
        if value >= today:
            raise ValueError(
                f"{value} is not in the past (today is {today} UTC): the first daily partition "
                f"must be a day that has ended; allowed: a date before {today}"
            )
        return value

    @field_validator("as_of", "replay_started_at")
    @classmethod
    def _naive_utc_past(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None:
            return None
        moment = naive_utc(value)
        now = utc_now()
        if moment > now:
            raise ValueError(f"{moment} is in the future (now {now:%Y-%m-%dT%H:%M:%S} UTC)")
        start = info.data.get("start_date")
        if info.field_name == "as_of" and start is not None and moment.date() < start:
            raise ValueError(
                f"{moment} is before market.start_date (env TRADING_START_DATE) {start}; "
                f"allowed: an instant from {start} until now"
            )
        return moment

    @model_validator(mode="after")
    def _played_from_as_of(self) -> MarketConfig:
        if self.replay_started_at is not None and self.as_of is None:
            raise ValueError(
                "replay_started_at (env TRADING_REPLAY_STARTED_AT) is set without as_of "
                "(env TRADING_MARKET_AS_OF): it anchors the market played from as_of"
            )
        return self


class SocialConfig(_Model):
    source: SocialSource = "replay"
    # Directory in the layout of ../shared/data/social (JSON lines). None: the embedded sample.
    replay_dir: Path | None = None
    subreddits: list[str] = Field(default_factory=lambda: ["cryptocurrency", "bitcoin"])
    x_query: str = "(#BTC OR #bitcoin OR #crypto) -is:retweet lang:en"
    max_items: int = Field(default=200, ge=1)
    # The shared Reddit scrape stores naive local times of its scraper (UTC+1).
    reddit_source_timezone: str = "Africa/Casablanca"

    _unique = field_validator("subreddits")(_no_duplicates)

    @field_validator("reddit_source_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            close = difflib.get_close_matches(value, sorted(available_timezones()), n=3)
            hint = f"; did you mean {close}?" if close else ""
            raise ValueError(
                f"unknown time zone {value!r}; allowed: an IANA time zone name such as "
                f"'UTC' or 'Europe/Berlin'{hint}"
            ) from None
        return value


class NewsConfig(_Model):
    # Feed URLs or local file paths; feedparser reads both. Empty: the embedded sample.
    feeds: list[str] = Field(default_factory=list)
    # A hack/exploit news event about a held asset (trading_core/hack_rule.py): "alert",
    # "force-exit" (an operator command to the executor, and an alert) or "off".
    hack_rule: Literal["off", "alert", "force-exit"] = "alert"
    hack_window_hours: float = Field(24.0, gt=0, le=720)

    _unique = field_validator("feeds")(_no_duplicates)


class OnchainConfig(_Model):
    source: SocialSource = "replay"
    # Directory in the layout of ../shared/data/onchain. None: the embedded sample.
    replay_dir: Path | None = None
    base_url: str = "https://api.blockchain.info/charts"
    metrics: list[str] = Field(
        default_factory=lambda: ["hash_rate", "n_transactions", "market_price"]
    )

    _unique = field_validator("metrics")(_no_duplicates)


# Parameters of a strategy whose configuration gives none (others: the strategy's defaults).
DEFAULT_STRATEGY_PARAMS: dict[str, dict[str, Any]] = {"macd": {"fast": 5, "slow": 13, "signal": 4}}


def _non_finite(value: Any, where: str) -> str | None:
    """The first NaN or infinity in a (nested) parameter value, named, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} must be a finite number (got {value!r})"
    if isinstance(value, dict):
        items: Any = ((f"{where}.{k}", v) for k, v in value.items())
    elif isinstance(value, list | tuple):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    return next((bad for key, v in items if (bad := _non_finite(v, key))), None)


class StrategyConfig(_Model):
    name: str = "macd"
    timeframe: str = "1m"
    # Validated by the strategy's own parameter model. Omitted: DEFAULT_STRATEGY_PARAMS of
    # the strategy, else the strategy's own defaults.
    params: dict[str, Any] = Field(default_factory=dict)
    # Bars of history handed to the strategy at each live evaluation.
    lookback_bars: int = Field(default=300, ge=10)

    @model_validator(mode="before")
    @classmethod
    def _default_params(cls, data: Any) -> Any:
        if isinstance(data, dict) and "params" not in data:
            name = data.get("name", cls.model_fields["name"].default)
            return {**data, "params": DEFAULT_STRATEGY_PARAMS.get(name, {})}
        return data

    @field_validator("name")
    @classmethod
    def _registered(cls, value: str) -> str:
        from trading_core.strategies import STRATEGIES  # imported on use: it loads numba

        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}; allowed: {sorted(STRATEGIES)}")
        return value

    _timeframe = field_validator("timeframe")(_check_timeframe)

    @field_validator("params")
    @classmethod
    def _valid_for_strategy(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from trading_core.strategies import StrategyError, get_strategy

        for key, item in value.items():
            if bad := _non_finite(item, key):
                raise ValueError(bad)
        name = info.data.get("name")
        if name is None:  # the name itself is invalid and reported
            return value
        try:
            get_strategy(name, value)
        except StrategyError as exc:  # one line: "invalid parameters for ...: a: ...; b: ..."
            head, *problems = (line.strip() for line in str(exc).splitlines())
            raise ValueError(f"{head} {'; '.join(problems)}".strip()) from None
        return value


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

    @field_validator("max_notional")
    @classmethod
    def _above_min_notional(cls, value: float, info: ValidationInfo) -> float:
        low = info.data.get("min_notional")
        if low is not None and value < low:
            raise ValueError(
                f"{value} is below min_notional ({low}); allowed: max_notional >= min_notional"
            )
        return value


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
    # Stale entries never fire: an entry older than max_intent_age_seconds on the market
    # clock (None: one bar of its timeframe plus intent_grace_seconds) expires, and so does
    # one whose market price moved more than max_price_deviation (a fraction) from the
    # intent's reference price. A decided_at more than clock_skew_seconds in the future is
    # invalid. Exits are never expired (they only reduce exposure): a late one is flagged.
    max_intent_age_seconds: float | None = Field(default=None, gt=0)
    intent_grace_seconds: float = Field(default=30.0, ge=0)
    max_price_deviation: float = Field(default=0.02, gt=0, le=1)
    clock_skew_seconds: float = Field(default=5.0, ge=0)
    # The ledger lease (one executor per ledger): renewed every lease_seconds / 3; a holder
    # silent for lease_seconds may be taken over.
    lease_seconds: float = Field(default=15.0, ge=2, le=600)
    # Order-rate throttle per exchange, below its published limits (Binance spot: 50 orders per
    # 10 s): entries beyond it wait for the next tick; exits are never delayed.
    max_orders_per_second: int = Field(default=5, ge=1, le=1000)
    max_orders_per_minute: int = Field(default=100, ge=1, le=60_000)
    # Native protective orders (executor.backstop): where the exchange supports them, a
    # stop-limit (or an OCO with the take-profit) rests on the exchange behind the executor's
    # own levels, backstop_margin_pct wider, so that stops survive the host: its limit sits
    # backstop_limit_offset_pct below its trigger, and a trailing stop replaces it once the
    # level moved by more than backstop_step_pct.
    native_stops: bool = True
    backstop_margin_pct: float = Field(default=0.01, gt=0, lt=1)
    backstop_limit_offset_pct: float = Field(default=0.01, ge=0, lt=1)
    backstop_step_pct: float = Field(default=0.0025, ge=0, lt=1)

    @model_validator(mode="after")
    def _step_below_margin(self) -> ExecutorConfig:
        if self.backstop_step_pct >= self.backstop_margin_pct:
            raise ValueError(
                f"backstop_step_pct ({self.backstop_step_pct}) must be below "
                f"backstop_margin_pct ({self.backstop_margin_pct}); allowed: "
                "0 <= backstop_step_pct < backstop_margin_pct"
            )
        return self

    paper_latency_ms: float = Field(default=0.0, ge=0)
    # What a paper fill pays its fee in (trading_core.config_fees): quote | base | BNB + price.
    paper_fee_currency: PaperFeeCurrency = PaperFeeCurrency()
    # Dagster webserver for REST reports of execution/orders and execution/fills.
    dagster_url: str = "http://127.0.0.1:3000"

    @field_validator("dagster_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        try:
            port_ok = parts.port is None or parts.port > 0
        except ValueError:  # not a number or out of range
            port_ok = False
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or not port_ok
            or parts.username is not None
            or parts.query
            or parts.fragment
            or any(c.isspace() for c in value)
        ):
            raise ValueError(
                "not a Dagster webserver URL; allowed: http(s)://host[:port][/path-prefix], "
                "e.g. http://127.0.0.1:3000"
            )
        return value


class OperationsConfig(_Model):
    """Guards of the live loop (``trading_pipelines.in_flight``, ``trading_pipelines.watchdog``)."""

    # Dagster run monitoring ends an evaluation or live-ingest run that runs longer
    # (tag dagster/max_runtime): a hung run fails (and alerts) instead of blocking the lane.
    max_evaluation_seconds: int = Field(default=600, ge=30, le=86_400)
    max_live_ingest_seconds: int = Field(default=600, ge=30, le=86_400)
    # The supervisor alerts when no evaluate_strategy run has succeeded for this many bars of
    # the strategy's timeframe (it runs outside Dagster, so a dead daemon is noticed too).
    stalled_after_bars: int = Field(default=3, ge=1, le=1000)
    # The new-bar sensor requests an evaluation this many wall seconds before its bar closes
    # (the run's launch overlaps the bar's last seconds; its ingest waits for the close:
    # trading_core.market.bar_close). 0: only after the close.
    arm_lead_seconds: float = Field(default=12.0, ge=0, le=300)
    # ... and fetches the bar this long after the close (exchanges finalise a candle late).
    # Unset: 1 s for an exchange (ccxt), 0 for the offline sources (sim, replay), whose bar is
    # final at its close (``settle_seconds``).
    close_settle_seconds: float | None = Field(default=None, ge=0, le=60)

    def settle_seconds(self, market_source: str) -> float:
        """How long after a bar's close its ingest fetches it, for this market source."""
        if self.close_settle_seconds is not None:
            return self.close_settle_seconds
        return 1.0 if market_source == "ccxt" else 0.0

    # The dbt data tests of the signal chain run off the bar's path, in a `signal_checks`
    # run between evaluations, at most this often.
    signal_checks_every_minutes: int = Field(default=15, ge=1, le=1440)
    # ... and when the disk holding TRADING_HOME has less free space than either limit.
    min_free_gib: float = Field(default=1.0, ge=0)
    min_free_fraction: float = Field(default=0.05, ge=0, lt=1)


class RetentionConfig(_Model):
    """What the supervisor's upkeep deletes every 10 minutes (``trading_pipelines.retention``)."""

    # Finished runs launched by schedules, sensors or automation, older than this, whose
    # every asset materialization has a newer one, are deleted with their events and logs
    # (the live loop makes ~3,000 runs a day of ~0.5 MB each on SQLite).
    run_days: float = Field(default=1.0, gt=0, le=3650)
    # dagster-dbt's folder per dbt invocation (dbt_project/target/<op>-<run>-<id>/, ~3 MB:
    # manifest, run results, log) that a failed dbt step left for diagnosis (a successful
    # one removes its own), deleted once older than this.
    dbt_invocation_minutes: float = Field(default=120.0, gt=0)
    # Lake batches reported to Dagster, of a day older than this, are merged into one file
    # per stream and day (every row kept: the journals are rebuilt from the lake).
    lake_compact_after_days: int = Field(default=2, ge=1, le=3650)
    # Logs under TRADING_HOME/logs and alerts.jsonl are rotated past this size, keeping
    # this many older copies (<name>.1 is the newest).
    log_max_mib: float = Field(default=20.0, gt=0)
    log_backups: int = Field(default=3, ge=1, le=100)
    alerts_max_mib: float = Field(default=5.0, gt=0)
    alerts_backups: int = Field(default=3, ge=1, le=100)


from trading_core.config_portfolio import ProtocolConfig, StrategyInstances  # noqa: E402


class TradingConfig(_Model):
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


def _csv(value: str) -> list[str]:
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts:
        raise ValueError("the list is empty; allowed: comma-separated values")
    return parts


# Environment variable -> (dotted field path, parser). The documented overrides.
ENV_OVERRIDES: dict[str, tuple[str, Any]] = {
    "TRADING_MARKET_SOURCE": ("market.source", str),
    "TRADING_EXCHANGES": ("market.exchanges", _csv),
    "TRADING_SYMBOLS": ("market.symbols", _csv),
    "TRADING_TIMEFRAMES": ("market.timeframes", _csv),
    "TRADING_START_DATE": ("market.start_date", str),
    "TRADING_REPLAY_DIR": ("market.replay_dir", str),
    "TRADING_ARCHIVE_URL": ("market.archive_url", str),
    "TRADING_SIM_SEED": ("market.sim_seed", int),
    "TRADING_MARKET_AS_OF": ("market.as_of", str),
    "TRADING_REPLAY_PACE": ("market.replay_pace_seconds", float),
    "TRADING_REPLAY_STARTED_AT": ("market.replay_started_at", str),
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
    **ALERT_ENV_OVERRIDES,
    "TRADING_COCKPIT_HOST": ("cockpit.host", str),
    "TRADING_COCKPIT_PORT": ("cockpit.port", int),
}


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"{part}: must be a mapping of settings (got {node!r})")
    node[leaf] = value


def _where(field: str) -> str:
    """A field's dotted path, with the variable that overrides it (also for its items)."""
    env = next(
        (
            k
            for k, (path, _) in ENV_OVERRIDES.items()
            if field == path or field.startswith(path + ".")
        ),
        None,
    )
    return f"{field} (env {env})" if env else field


def _empty_variable(var: str, field: str) -> str:
    """The error for a variable that is set but empty: what to give, or unset it."""
    section, name = field.split(".")
    model = type(getattr(TradingConfig(), section))
    info = model.model_fields[name]
    annotation = info.annotation
    if get_origin(annotation) is Literal:
        allowed = f"one of {list(get_args(annotation))}"
    elif get_origin(annotation) is list:
        allowed = "comma-separated values"
    else:
        kinds = {
            Path: "a path",
            date: "a date (YYYY-MM-DD)",
            datetime: "an ISO-8601 time",
            int: "an integer",
            float: "a number",
        }
        kind = next((k for k in (annotation, *get_args(annotation)) if k in kinds), None)
        allowed = kinds[kind] if kind is not None else "a value"
    default = info.get_default(call_default_factory=True)
    fallback = "(default: none)" if default is None else f"for the default {default!r}"
    return f"{var} ({field}) is set but empty; allowed: {allowed}, or unset {var} {fallback}"


def _format_validation_error(err: ValidationError, origin: str) -> str:
    lines = [f"invalid trading configuration ({origin}):"]
    for problem in err.errors():
        field = ".".join(str(p) for p in problem["loc"])
        allowed = problem.get("ctx", {}).get("expected")
        msg = problem["msg"].removeprefix("Value error, ")
        if allowed and str(allowed) not in msg:
            msg = f"{msg}; allowed: {allowed}"
        lines.append(f"  {_where(field)}: {msg} (got {problem.get('input')!r})")
    return "\n".join(lines)


def _path_problems(config: TradingConfig) -> list[str]:
    """Replay directories and feed files that do not exist (checked at load time only: the
    models themselves do no I/O)."""
    problems = []
    folders = {
        "market.replay_dir": config.market.replay_dir,
        "social.replay_dir": config.social.replay_dir,
        "onchain.replay_dir": config.onchain.replay_dir,
    }
    for field, folder in folders.items():
        if folder is not None and not folder.is_dir():
            what = "is not a directory" if folder.exists() else "does not exist"
            seen_from = "" if folder.is_absolute() else f" (relative to {Path.cwd()})"
            problems.append(
                f"  {_where(field)}: {folder}{seen_from} {what}; allowed: an existing directory"
            )
    for i, feed in enumerate(config.news.feeds):
        url = urlsplit(feed)
        if url.scheme in ("http", "https") and url.hostname:
            continue
        if not Path(feed).is_file():
            problems.append(
                f"  {_where(f'news.feeds.{i}')}: {feed!r} is neither an http(s) URL nor an "
                "existing file; allowed: feed URLs (http(s)://host/...) or paths of feed files"
            )
    return problems


def _market_problems(config: TradingConfig) -> list[str]:
    """Markets asked for that nothing provides: a strategy timeframe that is not ingested, a
    paper executor on an exchange without prices, and with ``market.source: replay`` the
    series without a file in the replay directory."""
    market, executor = config.market, config.executor
    problems = []
    if config.strategy.timeframe not in market.timeframes:
        problems.append(
            f"  {_where('strategy.timeframe')}: {config.strategy.timeframe!r} is not ingested; "
            f"allowed: one of {_where('market.timeframes')} {market.timeframes}"
        )
    if executor.mode == "paper" and executor.exchange not in market.exchanges:
        problems.append(
            f"  {_where('executor.exchange')}: a paper executor on {executor.exchange!r} has no "
            f"prices (and the strategy's intents are for the ingested exchanges); allowed: one "
            f"of {_where('market.exchanges')} {market.exchanges}"
        )
    if market.source == "replay" and market.replay_dir is not None:
        from trading_core.market.replay_coverage import coverage_problems  # reads the folder

        problems += [
            f"  {_where(field)}: {problem}"
            for field, problem in coverage_problems(
                market.replay_dir, market.exchanges, market.symbols, market.timeframes
            )
        ]
    return problems


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
        try:
            loaded = yaml.safe_load(file.read_text()) or {}
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            at = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
            problem = exc.problem or exc.context or "syntax error"
            raise ConfigError(f"{file}{at}: invalid YAML: {problem}") from None
        except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"{file}: cannot read the configuration: {detail}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{file}: the top level must be a mapping of sections")
        tree = loaded
        origin = str(file)
    for var, (field, parse) in ENV_OVERRIDES.items():
        raw = env.get(var)
        if raw is None:
            continue
        if not raw.strip():
            raise ConfigError(_empty_variable(var, field))
        try:
            value = parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{var} ({field}): cannot parse {raw!r}: {exc}") from None
        _set_path(tree, field, value)
        origin += f" + {var}"
    try:
        config = TradingConfig.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, origin)) from None
    problems = _path_problems(config) or _market_problems(config)
    if problems:
        raise ConfigError("\n".join([f"invalid trading configuration ({origin}):", *problems]))
    return config


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
    def research_warehouse(self) -> Path:
        """Research results: a second DuckDB file, so research never holds the live one."""
        return self.home / "research.duckdb"

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
        """Create the root and its folders private to the user (0700): the ledger, the
        warehouse and the reports are nobody else's to read. A folder others could open is
        tightened (with a warning); one we cannot chmod (not ours) is reported, not fatal."""
        for folder in (self.home, self.lake, self.reports, self.dagster_home, self.executor_state):
            folder.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
            mode = stat.S_IMODE(folder.stat().st_mode)
            if mode & 0o077:
                try:
                    folder.chmod(PRIVATE_DIR_MODE)
                except OSError as exc:
                    log.warning(
                        "%s is open to others (mode %o) and stays so: %s", folder, mode, exc
                    )
                else:
                    log.warning("%s was open to others (mode %o); now %o", folder, mode, 0o700)
        return self


def get_paths(environ: os._Environ[str] | dict[str, str] | None = None) -> Paths:
    return Paths(trading_home(environ))
