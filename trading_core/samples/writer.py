"""Write the embedded samples to disk in the replay layouts (see the package docstring)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from trading_core.samples.news import FEEDS, news_items, render_rss
from trading_core.samples.onchain import daily_series, last_complete_day
from trading_core.samples.social import SAMPLE_TIMEZONE, reddit_records, tweet_records
from trading_core.timeframes import naive_utc, utc_now

DEFAULT_SEED = 7
ONCHAIN_DAYS = 365
BTC_METRICS = ("market_price", "hash_rate", "difficulty", "n_transactions", "n_unique_addresses")
# Coin Metrics column ids of the ETH and SOL sample files.
COINMETRICS_COLUMNS = {
    "active_addresses": "AdrActCnt",
    "n_transactions": "TxCnt",
    "market_price": "PriceUSD",
    "market_cap": "CapMrktCurUSD",
}


@dataclass(frozen=True)
class SampleSet:
    """Where the samples are, and what a reader needs to know about them."""

    root: Path
    now: datetime  # nothing later than this was written (naive UTC)

    @property
    def social_dir(self) -> Path:
        return self.root / "social"

    @property
    def news_dir(self) -> Path:
        return self.root / "news"

    @property
    def news_feeds(self) -> list[Path]:
        return [self.news_dir / f"{stem}.xml" for stem in FEEDS]

    @property
    def onchain_dir(self) -> Path:
        return self.root / "onchain"

    @property
    def reddit_timezone(self) -> str:
        """The zone of ``created_local`` in the sample's Reddit file."""
        return SAMPLE_TIMEZONE


def _write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` in one step, so a concurrent reader sees the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temp, 0o644)  # mkstemp makes it private; samples are plain data
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def ensure_samples(
    root: Path | str,
    *,
    now: datetime | None = None,
    days: int = 30,
    seed: int = DEFAULT_SEED,
) -> SampleSet:
    """(Re)write the samples under ``root`` for the ``days`` days up to ``now``; cheap (~50 ms)."""
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    cutoff = naive_utc(now) if now is not None else utc_now()
    samples = SampleSet(Path(root).expanduser().resolve(), cutoff)
    first = cutoff.date() - timedelta(days=days - 1)
    dates = [first + timedelta(days=i) for i in range(days)]

    def published(stamp: str | datetime) -> bool:
        return (datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp) <= cutoff

    posts = [r for d in dates for r in reddit_records(seed, d) if published(r["created_local"])]
    tweets = [r for d in dates for r in tweet_records(seed, d) if published(r["created_at"])]
    _write_atomic(samples.social_dir / "reddit_sample_posts.jsonl", _jsonl(posts))
    _write_atomic(samples.social_dir / "tweets_sample.jsonl", _jsonl(tweets))

    items = [i for d in dates for i in news_items(seed, d) if published(i.published_at)]
    for stem in FEEDS:
        feed_items = [i for i in items if i.feed == stem]
        _write_atomic(samples.news_dir / f"{stem}.xml", render_rss(stem, feed_items, cutoff))

    _write_onchain(samples.onchain_dir, seed, last_complete_day(cutoff.date()))
    return samples


def _write_onchain(directory: Path, seed: int, last_day) -> None:
    for asset in ("BTC", "ETH", "SOL"):
        series = daily_series(seed, asset, last_day).tail(ONCHAIN_DAYS)
        stamps = series["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        if asset == "BTC":
            for metric in BTC_METRICS:
                table = pd.DataFrame({"timestamp": stamps, metric: series[metric]})
                text = table.to_csv(index=False, float_format="%.10g")
                _write_atomic(directory / f"blockchaincom_btc_{metric}.csv", text)
        else:
            table = pd.DataFrame({"timestamp": stamps})
            for metric, column in COINMETRICS_COLUMNS.items():
                table[column] = series[metric].to_numpy()
            text = table.to_csv(index=False, float_format="%.10g")
            _write_atomic(directory / f"coinmetrics_{asset}_1d.csv", text)
