"""Alternative items from a directory in the layout of ``../shared/data`` (``--alt-data DIR``).

``social/reddit_*.jsonl``, ``social/tweets_*.jsonl``, ``news/*.xml`` (RSS/Atom) and
``onchain/*.csv`` are read with the same readers the ingest assets use (``ReplayReddit``,
``ReplayX``, ``NewsFeeds``, ``ReplayOnchain``: the same parsing, time zones, symbol detection,
sentiment and quarantine rules), then turned into :class:`~trading_core.alt_inputs.AltItems`
exactly as ``fct_signals`` turns the warehouse tables into them (:func:`items_from_tables`).
A missing sub-directory is no data of that source; a directory with none of them is an error.
Rejected records are counted in :attr:`AltDirectory.rejected`, never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from trading_core.alt_inputs import AltItems, sentiment_items
from trading_core.news_events import news_events

SUBDIRECTORIES = ("social", "news", "onchain")
_ALL_TIME = (datetime(2000, 1, 1), datetime(2100, 1, 1))


@dataclass(frozen=True)
class AltDirectory:
    items: AltItems
    rejected: dict[str, int]


def onchain_items(daily: pd.DataFrame) -> pd.DataFrame:
    """``int_onchain_daily``-shaped rows (``asset``, ``metric``, ``available_at``, ``value``;
    or raw rows with ``ts``, averaged per day as that model does) as on-chain items."""
    frame = daily.copy()
    if "available_at" not in frame.columns:
        frame["day"] = pd.to_datetime(frame["ts"]).dt.floor("D")
        frame = frame.groupby(["asset", "metric", "day"], as_index=False)["value"].mean()
        frame["available_at"] = frame["day"] + pd.Timedelta(days=1)
    frame["asset"] = frame["asset"].astype(str).str.upper()
    out = frame.rename(columns={"available_at": "known_at"})[
        ["asset", "metric", "known_at", "value"]
    ]
    out["known_at"] = pd.to_datetime(out["known_at"])
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    return out.reset_index(drop=True)


def items_from_tables(
    reddit: pd.DataFrame | None,
    x: pd.DataFrame | None,
    news: pd.DataFrame | None,
    onchain: pd.DataFrame | None,
) -> AltItems:
    """Rows of ``raw``/``stg`` reddit posts, X posts, news items and on-chain metrics (any may
    be None) as :class:`AltItems`."""
    parts = [
        sentiment_items(frame, source)
        for source, frame in (("reddit", reddit), ("x", x), ("news", news))
        if frame is not None and len(frame)
    ]
    sentiment = pd.concat(parts, ignore_index=True) if parts else AltItems().sentiment.iloc[0:0]
    events = (
        news_events(news)[["item_id", "published_at", "asset", "event_class"]]
        if news is not None and len(news)
        else AltItems().events
    )
    chain = onchain_items(onchain) if onchain is not None and len(onchain) else AltItems().onchain
    return AltItems(sentiment, events, chain)


def load_alt_directory(directory: Path | str) -> AltDirectory:
    """Every alternative item under ``directory`` (see the module docstring)."""
    from trading_core.news import NewsFeeds
    from trading_core.onchain import ReplayOnchain
    from trading_core.social.reddit import ReplayReddit
    from trading_core.social.x import ReplayX

    root = Path(directory).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"--alt-data: {root} is not a directory")
    present = [name for name in SUBDIRECTORIES if (root / name).is_dir()]
    if not present:
        raise FileNotFoundError(
            f"--alt-data: {root} has none of the sub-directories {list(SUBDIRECTORIES)} "
            "(the layout of ../shared/data)"
        )
    rejected: dict[str, int] = {}
    tables: dict[str, pd.DataFrame | None] = {"reddit": None, "x": None, "news": None}
    if (root / "social").is_dir():
        for name, reader in (("reddit", ReplayReddit), ("x", ReplayX)):
            result = reader(root / "social").fetch_posts(*_ALL_TIME)
            tables[name], rejected[name] = result.frame, len(result.rejects)
    feeds = sorted(str(p) for p in (root / "news").glob("*.xml")) if "news" in present else []
    if feeds:
        result = NewsFeeds(feeds).fetch_items(*_ALL_TIME)
        tables["news"], rejected["news"] = result.frame, len(result.rejects)
    onchain = None
    if "onchain" in present:
        result = ReplayOnchain(root / "onchain").fetch_metrics(*_ALL_TIME)
        onchain, rejected["onchain"] = result.frame, len(result.rejects)
    items = items_from_tables(tables["reddit"], tables["x"], tables["news"], onchain)
    return AltDirectory(items, rejected)
