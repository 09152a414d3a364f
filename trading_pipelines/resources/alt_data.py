"""Social (Reddit, X), news and on-chain sources: a live and an offline backend each,
chosen by configuration. Live credentials come from the environment only
(REDDIT_CLIENT_ID, REDDIT_CLIENT_SECRET, X_BEARER_TOKEN)."""

from __future__ import annotations

from typing import ClassVar

import dagster as dg
from pydantic import BaseModel

from trading_core.config import NewsConfig, OnchainConfig, Paths, SocialConfig, TradingConfig
from trading_pipelines.resources.base import ConfigSection


class SocialResource(ConfigSection, dg.ConfigurableResource):
    """Reddit (praw | replay) and X (tweepy | replay); ``source``: replay | live."""

    section: ClassVar[type[BaseModel]] = SocialConfig

    source: str
    replay_dir: str | None
    subreddits: list[str]
    x_query: str
    max_items: int
    reddit_source_timezone: str
    samples_root: str

    def reddit(self):
        from trading_core.social.reddit import reddit_source_from_config

        cfg = self.settings()
        return reddit_source_from_config(
            cfg, samples_root=self.samples_root, source_timezone=cfg.reddit_source_timezone
        )

    def x(self):
        from trading_core.social.x import x_source_from_config

        return x_source_from_config(self.settings(), samples_root=self.samples_root)


class NewsResource(ConfigSection, dg.ConfigurableResource):
    """RSS/Atom feeds (URLs or local files) read by feedparser; none: the embedded sample."""

    section: ClassVar[type[BaseModel]] = NewsConfig

    feeds: list[str]
    hack_rule: str
    hack_window_hours: float
    samples_root: str

    def client(self):
        from trading_core.news import news_source_from_config

        return news_source_from_config(self.settings(), samples_root=self.samples_root)


class OnchainResource(ConfigSection, dg.ConfigurableResource):
    """On-chain metrics: HTTP JSON API (live) or CSV files (replay)."""

    section: ClassVar[type[BaseModel]] = OnchainConfig

    source: str
    replay_dir: str | None
    base_url: str
    metrics: list[str]
    samples_root: str

    def client(self):
        from trading_core.onchain import onchain_source_from_config

        return onchain_source_from_config(self.settings(), samples_root=self.samples_root)


def alt_data_resources(cfg: TradingConfig, root: Paths) -> dict[str, dg.ConfigurableResource]:
    samples = str(root.samples)
    return {
        "social": SocialResource.from_config(cfg.social, samples_root=samples),
        "news": NewsResource.from_config(cfg.news, samples_root=samples),
        "onchain": OnchainResource.from_config(cfg.onchain, samples_root=samples),
    }
