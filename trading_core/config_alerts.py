"""Alert channels and the Telegram bot: the ``alerts`` section of the trading configuration.

Levels, lowest first: INFO (a trade executed), WARNING (latency, minor API errors, drawdown
stage 1), CRITICAL (exchange connection lost, drawdown stage 2), EMERGENCY (a system error,
drawdown stages 3 and 4). The drawdown stages live here, in one place, until the portfolio
issue's protocol owns them. Secrets never live here: the bot token
(``TRADING_TELEGRAM_TOKEN``), the webhook (``TRADING_ALERT_WEBHOOK``) and the apprise URLs
(``TRADING_ALERT_APPRISE_URLS``) are read from the environment by the senders.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

AlertLevel = Literal["INFO", "WARNING", "CRITICAL", "EMERGENCY"]
ALERT_LEVELS: tuple[str, ...] = ("INFO", "WARNING", "CRITICAL", "EMERGENCY")
TELEGRAM_API_URL = "https://api.telegram.org"
_HH_MM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def level_rank(level: str) -> int:
    """0 for INFO ... 3 for EMERGENCY (any case); a ValueError naming the allowed levels."""
    upper = str(level).upper()
    if upper not in ALERT_LEVELS:
        raise ValueError(f"alert level {level!r}; allowed: {list(ALERT_LEVELS)}")
    return ALERT_LEVELS.index(upper)


class DrawdownStage(BaseModel):
    """A drawdown ``pct`` below the equity peak (0 < pct < 100) and the level it alerts at."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    pct: float = Field(gt=0, lt=100)
    level: AlertLevel


DEFAULT_DRAWDOWN_STAGES: tuple[DrawdownStage, ...] = (
    DrawdownStage(pct=5, level="WARNING"),
    DrawdownStage(pct=10, level="CRITICAL"),
    DrawdownStage(pct=15, level="EMERGENCY"),
    DrawdownStage(pct=20, level="EMERGENCY"),
)


def drawdown_level(drawdown_pct: float, stages: Sequence[DrawdownStage]) -> AlertLevel | None:
    """The level of the deepest drawdown stage reached (``drawdown_pct`` in percent), or None."""
    if drawdown_pct != drawdown_pct or drawdown_pct < 0:  # NaN or negative
        raise ValueError(f"drawdown_pct must be a number >= 0 (got {drawdown_pct!r})")
    reached = [stage for stage in stages if drawdown_pct >= stage.pct]
    return max(reached, key=lambda stage: stage.pct).level if reached else None


def _chat_ids(value: str) -> list[str]:
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts:
        raise ValueError("the list is empty; allowed: comma-separated chat ids")
    return parts


class AlertsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # Bot API base URL without the /bot<token> part (tests point it at a local fake).
    telegram_api_url: str = TELEGRAM_API_URL
    # The only chats the bot answers, and where Telegram alerts go (groups are negative).
    telegram_chat_ids: list[int] = Field(default_factory=list)
    # The lowest level each remote channel receives (the alerts.jsonl file gets every alert).
    telegram_min_level: AlertLevel = "INFO"
    webhook_min_level: AlertLevel = "INFO"
    apprise_min_level: AlertLevel = "WARNING"
    # The same alert key (level + title unless the sender names one) is sent to the remote
    # channels once per window; repeats are counted into the next one sent.
    dedup_seconds: float = Field(default=300.0, ge=0, le=86_400)
    # Remote sends per process and minute; EMERGENCY is never held back.
    max_alerts_per_minute: int = Field(default=20, ge=1, le=1_000)
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # An executor tick slower than this (seconds; its exchange calls included) is a WARNING.
    latency_warning_seconds: float = Field(default=5.0, gt=0, le=3_600)
    # Drawdown stage (percent below the peak) -> level, until the portfolio protocol owns it.
    drawdown_stages: list[DrawdownStage] = Field(
        default_factory=lambda: list(DEFAULT_DRAWDOWN_STAGES)
    )
    # Bot: commands per chat and minute, seconds a confirmation code stays valid, and the
    # UTC time of the daily summary (None: no summary is pushed; /daily still answers).
    commands_per_minute: int = Field(default=20, ge=1, le=600)
    confirm_seconds: float = Field(default=60.0, ge=5, le=3_600)
    daily_summary_utc: str | None = "00:05"

    @field_validator("telegram_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.query
            or parts.fragment
            or parts.username is not None
            or any(c.isspace() for c in value)
            or "/bot" in parts.path
        ):
            raise ValueError(
                "not a Bot API base URL; allowed: http(s)://host[:port][/prefix] without the "
                f"/bot<token> part, e.g. {TELEGRAM_API_URL}"
            )
        return value.rstrip("/")

    @field_validator("telegram_chat_ids")
    @classmethod
    def _distinct_chats(cls, value: list[int]) -> list[int]:
        repeated = sorted({chat for chat in value if value.count(chat) > 1})
        if repeated:
            raise ValueError(f"duplicate chat ids {repeated}; list each one once")
        if 0 in value:
            raise ValueError("chat id 0 is no chat; allowed: non-zero integers")
        return value

    @field_validator("drawdown_stages")
    @classmethod
    def _stages(cls, value: list[DrawdownStage]) -> list[DrawdownStage]:
        ordered = sorted(value, key=lambda stage: stage.pct)
        pcts = [stage.pct for stage in ordered]
        if len(set(pcts)) != len(pcts):
            raise ValueError(f"duplicate drawdown stages {pcts}; list each pct once")
        ranks = [level_rank(stage.level) for stage in ordered]
        if ranks != sorted(ranks):
            raise ValueError(
                "a deeper drawdown stage has a lower level; allowed: levels that never "
                "decrease with depth"
            )
        return ordered

    @field_validator("daily_summary_utc")
    @classmethod
    def _hh_mm(cls, value: str | None) -> str | None:
        if value is not None and not _HH_MM.match(value):
            raise ValueError(f"{value!r} is no time of day; allowed: HH:MM (UTC), or null")
        return value


# Environment variable -> (dotted field path, parser), merged into config.ENV_OVERRIDES.
ALERT_ENV_OVERRIDES: dict[str, tuple[str, Any]] = {
    "TRADING_TELEGRAM_CHAT_IDS": ("alerts.telegram_chat_ids", _chat_ids),
    "TRADING_TELEGRAM_API_URL": ("alerts.telegram_api_url", str),
}
