"""The ``social``, ``news`` and ``onchain`` sections: the data feeds beside the market.

Each is replayed from a directory (or the embedded sample) or read live; a bad time zone, a
duplicate entry or an out-of-range limit fails at load time, naming the field.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import Field, field_validator

from trading_core.config_base import SectionModel, no_duplicates

SocialSource = Literal["replay", "live"]


class SocialConfig(SectionModel):
    source: SocialSource = "replay"
    # Directory in the layout of ../shared/data/social (JSON lines). None: the embedded sample.
    replay_dir: Path | None = None
    subreddits: list[str] = Field(default_factory=lambda: ["cryptocurrency", "bitcoin"])
    x_query: str = "(#BTC OR #bitcoin OR #crypto) -is:retweet lang:en"
    max_items: int = Field(default=200, ge=1)
    # The shared Reddit scrape stores naive local times of its scraper (UTC+1).
    reddit_source_timezone: str = "Africa/Casablanca"

    _unique = field_validator("subreddits")(no_duplicates)

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


class NewsConfig(SectionModel):
    # Feed URLs or local file paths; feedparser reads both. Empty: the embedded sample.
    feeds: list[str] = Field(default_factory=list)
    # A hack/exploit news event about a held asset (trading_core/hack_rule.py): "alert",
    # "force-exit" (an operator command to the executor, and an alert) or "off".
    hack_rule: Literal["off", "alert", "force-exit"] = "alert"
    hack_window_hours: float = Field(24.0, gt=0, le=720)

    _unique = field_validator("feeds")(no_duplicates)


class OnchainConfig(SectionModel):
    source: SocialSource = "replay"
    # Directory in the layout of ../shared/data/onchain. None: the embedded sample.
    replay_dir: Path | None = None
    base_url: str = "https://api.blockchain.info/charts"
    metrics: list[str] = Field(
        default_factory=lambda: ["hash_rate", "n_transactions", "market_price"]
    )

    _unique = field_validator("metrics")(no_duplicates)
