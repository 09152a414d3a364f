"""The embedded samples: deterministic, recent, in the replay layouts, readable by every backend."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from trading_core.news import NewsFeeds
from trading_core.onchain import ReplayOnchain
from trading_core.samples import SampleSet, ensure_samples
from trading_core.social.reddit import ReplayReddit
from trading_core.social.x import ReplayX

NOW = datetime(2026, 3, 1, 9, 30, 0)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> SampleSet:
    return ensure_samples(tmp_path_factory.mktemp("samples"), now=NOW)


def test_same_seed_and_time_give_identical_files(samples: SampleSet, tmp_path: Path) -> None:
    again = ensure_samples(tmp_path / "again", now=NOW)
    assert _files(again.root) == _files(samples.root)
    other_seed = ensure_samples(tmp_path / "seed8", now=NOW, seed=8)
    assert _files(other_seed.root) != _files(samples.root)


def test_regenerating_later_keeps_every_earlier_post(samples: SampleSet, tmp_path: Path) -> None:
    later = ensure_samples(tmp_path / "later", now=NOW + timedelta(days=1))
    for name, stamp in (
        ("reddit_sample_posts.jsonl", "created_local"),
        ("tweets_sample.jsonl", "created_at"),
    ):
        before = _jsonl(samples.social_dir / name)
        after = _jsonl(later.social_dir / name)
        still_covered = str((NOW - timedelta(days=28)).date())
        kept = [r for r in before if r[stamp] >= still_covered]
        assert kept and all(r in after for r in kept)
        assert len(after) > len(kept)  # and the new day's posts were added


def test_nothing_is_written_after_now_and_the_latest_is_recent(samples: SampleSet) -> None:
    posts = pd.to_datetime(
        [r["created_local"] for r in _jsonl(samples.social_dir / "reddit_sample_posts.jsonl")]
    )
    tweets = pd.to_datetime(
        [r["created_at"] for r in _jsonl(samples.social_dir / "tweets_sample.jsonl")]
    )
    for stamps in (posts, tweets):
        assert stamps.max() <= NOW
        assert stamps.max() >= NOW - timedelta(hours=6)
        assert stamps.min() >= pd.Timestamp(NOW.date() - timedelta(days=29))


def test_layouts_match_the_shared_data(samples: SampleSet, shared_data: Path) -> None:
    shared_social = shared_data / "social"
    shared_post = json.loads(
        (shared_social / "reddit_crypto_posts_20251029.jsonl").open().readline()
    )
    shared_tweet = json.loads((shared_social / "tweets_crypto_2021.jsonl").open().readline())
    assert set(_jsonl(samples.social_dir / "reddit_sample_posts.jsonl")[0]) == set(shared_post)
    assert set(_jsonl(samples.social_dir / "tweets_sample.jsonl")[0]) == set(shared_tweet)
    onchain = sorted(p.name for p in samples.onchain_dir.iterdir())
    assert "blockchaincom_btc_hash_rate.csv" in onchain
    assert {"coinmetrics_ETH_1d.csv", "coinmetrics_SOL_1d.csv"} <= set(onchain)
    assert (
        (samples.onchain_dir / "blockchaincom_btc_market_price.csv")
        .read_text()
        .startswith("timestamp,market_price\n")
    )


def test_samples_are_not_copied_from_the_shared_data(samples: SampleSet, shared_data: Path) -> None:
    shared = {r["text"] for r in _jsonl(shared_data / "social" / "tweets_crypto_2021.jsonl")}
    ours = {r["text"] for r in _jsonl(samples.social_dir / "tweets_sample.jsonl")}
    assert not shared & ours


def test_social_samples_replay_cleanly_and_cover_the_sim_symbols(samples: SampleSet) -> None:
    window = (NOW - timedelta(days=30), NOW + timedelta(seconds=1))
    reddit = ReplayReddit(samples.social_dir, source_timezone=samples.reddit_timezone).fetch_posts(
        *window
    )
    x = ReplayX(samples.social_dir).fetch_posts(*window)
    assert reddit.rejects.empty and x.rejects.empty
    assert 200 <= len(reddit.frame) <= 600
    assert 400 <= len(x.frame) <= 1000
    recent = pd.concat([reddit.frame, x.frame])
    recent = recent[recent["published_at"] >= NOW - timedelta(days=2)]
    mentioned = set(",".join(recent["symbols"].dropna()).split(","))
    assert {"BTC", "ETH", "SOL"} <= mentioned
    # the crowd's mood moves from day to day, so daily sentiment does too
    daily = x.frame.groupby(x.frame["published_at"].dt.date)["sentiment_compound"].mean()
    assert daily.std() > 0.1


def test_news_samples_parse_as_feeds(samples: SampleSet) -> None:
    result = NewsFeeds([str(p) for p in samples.news_feeds]).fetch_items()
    assert result.rejects.empty and result.notes == ()
    assert 100 <= len(result.frame) <= 300
    assert result.frame["item_id"].is_unique
    assert set(result.frame["feed"]) == {"Sample Markets Wire", "Sample Chain Daily"}
    assert result.frame["published_at"].max() <= NOW


def test_onchain_samples_hold_a_year_through_yesterday(samples: SampleSet) -> None:
    result = ReplayOnchain(samples.onchain_dir).fetch_metrics("2000-01-01", NOW)
    assert result.rejects.empty
    frame = result.frame
    counts = frame.groupby(["asset", "metric"]).size()
    assert set(counts) == {365}
    assert set(frame["asset"]) == {"BTC", "ETH", "SOL"}
    assert {"hash_rate", "difficulty", "market_price", "n_transactions"} <= set(
        frame[frame["asset"] == "BTC"]["metric"]
    )
    assert {"market_price", "n_transactions", "market_cap", "AdrActCnt"} == set(
        frame[frame["asset"] == "SOL"]["metric"]
    )
    assert frame["ts"].max() == pd.Timestamp(NOW.date() - timedelta(days=1))
    btc_price = frame[(frame["asset"] == "BTC") & (frame["metric"] == "market_price")]["value"]
    assert btc_price.between(20_000, 400_000).all()
    assert btc_price.pct_change().abs().max() < 0.25
