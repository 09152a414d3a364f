"""Alert channels and the Telegram bot: the ``alerts`` section of the trading configuration.

Levels, lowest first: INFO (a trade executed), WARNING (latency, minor API errors, drawdown
stage 1), CRITICAL (exchange connection lost, drawdown stage 2), EMERGENCY (a system error,
drawdown stages 3 and 4); the stages themselves are the risk protocol's
(``protocol.drawdown_stages``). Secrets never live here: the bot token
(``TRADING_TELEGRAM_TOKEN``), the webhook (``TRADING_ALERT_WEBHOOK``) and the apprise URLs
(``TRADING_ALERT_APPRISE_URLS``) are read from the environment by the senders.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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

    @model_validator(mode="before")
    @classmethod
    def _moved_fields(cls, value: Any) -> Any:
        if isinstance(value, dict) and "drawdown_stages" in value:
            raise ValueError(
                "drawdown_stages moved to protocol.drawdown_stages (the risk protocol's "
                "stages set the alert levels: 5 % WARNING, 10 % CRITICAL, 15 % and 20 % "
                "EMERGENCY by default)"
            )
        return value

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
