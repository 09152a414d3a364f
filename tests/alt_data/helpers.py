"""Small synthetic alternative data for the alt-data tests: hourly bars and items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from trading_core.alt_inputs import AltItems

START = pd.Timestamp("2024-01-01")


def hourly_bars(n: int = 300, seed: int = 1, start: pd.Timestamp = START) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    return pd.DataFrame(
        {
            "ts": pd.date_range(start, periods=n, freq="h"),
            "open": close,
            "high": close * 1.002,
            "low": close * 0.998,
            "close": close,
            "volume": 1.0,
        }
    )


def posts(times: list[pd.Timestamp], sentiment: float, source: str = "reddit") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": source,
            "item_id": [f"{source}{i}" for i in range(len(times))],
            "published_at": times,
            "asset": "BTC",
            "sentiment": sentiment,
        }
    )


def events(times: list[pd.Timestamp], event_class: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": [f"n{i}" for i in range(len(times))],
            "published_at": times,
            "asset": "BTC",
            "event_class": event_class,
        }
    )


def hash_rate(days: int, jump_day: int | None = None, start: pd.Timestamp = START) -> pd.DataFrame:
    """Daily hash rate (known at each day's end), flat with noise, x3 from ``jump_day`` on."""
    rng = np.random.default_rng(5)
    day = pd.date_range(start - pd.Timedelta(days=40), periods=days + 40, freq="D")
    value = 100 + rng.normal(0, 1, len(day))
    if jump_day is not None:
        value[40 + jump_day :] *= 3
    return pd.DataFrame({"day": day, "value": value})


def onchain(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "asset": "BTC",
            "metric": "hash_rate",
            "known_at": frame["day"] + pd.Timedelta(days=1),
            "value": frame["value"],
        }
    )


def items(**parts: pd.DataFrame) -> AltItems:
    return AltItems(**parts)


def rss(path: Path, entries: list[tuple[str, str, str, pd.Timestamp]]) -> Path:
    """An RSS 2.0 file: (guid, title, summary, published) per entry."""
    body = "".join(
        f"<item><guid>{g}</guid><title>{t}</title><description>{s}</description>"
        f"<link>https://example.test/{g}</link>"
        f"<pubDate>{p.strftime('%a, %d %b %Y %H:%M:%S')} +0000</pubDate></item>"
        for g, t, s, p in entries
    )
    path.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Test feed</title>'
        f"<link>https://example.test</link><description>t</description>{body}</channel></rss>"
    )
    return path


def hash_rate_csv(path: Path, frame: pd.DataFrame) -> Path:
    out = pd.DataFrame(
        {"timestamp": frame["day"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"), "hash_rate": frame["value"]}
    )
    out.to_csv(path, index=False)
    return path
