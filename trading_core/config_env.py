"""The environment variables that override the configuration, and their error messages.

``ENV_OVERRIDES`` maps each documented variable to the field it sets and the parser of its
text. ``with_variable`` names a field with the variable that sets it (for every error about
that field); ``empty_variable_error`` is the error for a variable that is set but empty.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from trading_core.config_alerts import ALERT_ENV_OVERRIDES
from trading_core.config_schema import TradingConfig


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


def with_variable(field: str) -> str:
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


def empty_variable_error(var: str, field: str) -> str:
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
