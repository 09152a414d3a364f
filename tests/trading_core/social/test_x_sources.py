"""X backends: replay of the shared tweets (derived ids), tweepy against a fake recent search."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.fakes.x_server import FakeX, tweet
from trading_core.config import ConfigError, SocialConfig
from trading_core.social.results import SourceError
from trading_core.social.x import (
    X_COLUMNS,
    ReplayX,
    TweepyX,
    XSource,
    derived_post_id,
    x_source_from_config,
)
from trading_core.warehouse import ensure_schema, replace_slice

FIXED_NOW = datetime(2026, 3, 1, 12, 0, 0)


def _fits_table(frame: pd.DataFrame, table: str) -> int:
    with duckdb.connect(":memory:") as conn:
        ensure_schema(conn)
        return replace_slice(conn, table, frame, "true")


@pytest.fixture(scope="module")
def shared_tweets(shared_data: Path) -> pd.DataFrame:
    result = ReplayX(shared_data / "social", clock=lambda: FIXED_NOW).fetch_posts(
        "2000-01-01", "2100-01-01"
    )
    assert result.rejects.empty
    return result.frame


def test_replay_reads_every_shared_tweet_with_stable_ids(
    shared_tweets: pd.DataFrame, shared_data: Path
) -> None:
    assert len(shared_tweets) == 3940
    assert list(shared_tweets.columns) == X_COLUMNS
    assert shared_tweets["post_id"].is_unique
    again = ReplayX(shared_data / "social" / "tweets_crypto_2021.jsonl").fetch_posts(
        "2000-01-01", "2100-01-01"
    )
    assert list(again.frame["post_id"]) == list(shared_tweets["post_id"])
    first = shared_tweets.iloc[0]
    assert first["published_at"] == pd.Timestamp("2021-02-05 17:29:43")  # read as UTC
    assert first["post_id"] == derived_post_id("2021-02-05T17:29:43", first["text"])
    assert first["symbols"] == "BTC"
    assert (shared_tweets["source"] == "replay").all()
    assert _fits_table(shared_tweets, "raw.x_posts") == 3940


def test_replay_window_and_malformed_lines(tmp_path: Path) -> None:
    line = {"created_at": "2021-03-01T10:00:00", "text": "ETH looks great"}
    file = tmp_path / "tweets_test.jsonl"
    file.write_text(
        "\n".join(
            [
                json.dumps(line),
                json.dumps(line),  # the same post twice is one post
                json.dumps({"created_at": "2021-03-02T10:00:00", "text": "next day"}),
                json.dumps({"text": "undated"}),
                json.dumps({"created_at": "03/01/2021 10:00", "text": "odd date"}),
                json.dumps({"created_at": "2021-03-01T11:00:00"}),
                json.dumps({"created_at": "2021-05-01T11:00:00"}),  # another window's reject
                "[broken",
            ]
        )
    )
    result = ReplayX(file).fetch_posts("2021-03-01", "2021-03-02")
    assert list(result.frame["text"]) == ["ETH looks great"]
    assert list(result.rejects["reason"]) == [
        "missing field: created_at",
        "unparseable created_at: '03/01/2021 10:00'",
        "missing field: text",
        "invalid JSON: Expecting value",
    ]
    assert (result.rejects["asset_key"] == "raw/x_posts").all()


def test_replay_source_timezone_converts_naive_times(tmp_path: Path) -> None:
    file = tmp_path / "tweets_ny.jsonl"
    file.write_text(json.dumps({"created_at": "2021-07-01T08:00:00", "text": "gm"}) + "\n")
    frame = ReplayX(file, source_timezone="America/New_York").fetch_posts(
        "2021-07-01", "2021-07-02"
    )
    assert frame.frame.loc[0, "published_at"] == pd.Timestamp("2021-07-01 12:00:00")


# --- tweepy against a local fake of recent search ----------------------------------------------


def _tweets(count: int, every: timedelta = timedelta(minutes=10)) -> list[dict]:
    return [
        tweet(str(10_000 + i), FIXED_NOW - every * (i + 1), f"#SOL looks strong today {i}")
        for i in range(count)
    ]


def _client(fake: FakeX, sleeps: list[float] | None = None, **kwargs: object) -> TweepyX:
    return TweepyX(
        fake.bearer_token,
        "#SOL -is:retweet",
        api_url=fake.url,
        sleep=(sleeps if sleeps is not None else []).append,
        clock=lambda: FIXED_NOW,
        **kwargs,
    )


@pytest.mark.integration
def test_tweepy_follows_next_token_across_pages() -> None:
    with FakeX(_tweets(250)) as fake:
        client = _client(fake, max_items=1000)
        assert isinstance(client, XSource)
        result = client.fetch_posts(FIXED_NOW - timedelta(days=1), FIXED_NOW)
        calls = fake.search_requests()
    day = 24 * 6 - 1  # tweets every 10 min; the one at exactly now-24h is included
    assert len(result.frame) == day + 1
    assert len(calls) == 2
    assert "next_token" not in calls[0].query
    assert calls[1].query["next_token"] == "page-100"
    assert calls[0].query["query"] == "#SOL -is:retweet"
    assert calls[0].query["max_results"] == "100"
    assert calls[0].query["start_time"] == "2026-02-28T12:00:00Z"
    assert calls[0].query["end_time"] == "2026-03-01T11:59:50Z"  # 10 s before now
    frame = result.frame.set_index("post_id")
    assert frame.loc["10000", "published_at"] == pd.Timestamp("2026-03-01 11:50:00")
    assert frame.loc["10000", "symbols"] == "SOL"
    assert frame.loc["10000", "sentiment_compound"] > 0
    assert (result.frame["source"] == "tweepy").all()
    assert result.notes == ()
    assert _fits_table(result.frame, "raw.x_posts") == len(result.frame)


@pytest.mark.integration
def test_tweepy_waits_for_the_rate_limit_reset_then_retries() -> None:
    sleeps: list[float] = []
    with FakeX(_tweets(5), rate_limited=2, reset_in=30) as fake:
        result = _client(fake, sleeps).fetch_posts(FIXED_NOW - timedelta(hours=1), FIXED_NOW)
        calls = fake.search_requests()
    assert len(result.frame) == 5
    assert len(calls) == 3
    assert len(sleeps) == 2
    assert all(29 <= s <= 32 for s in sleeps)  # until x-rate-limit-reset, plus 1 s margin


@pytest.mark.integration
def test_tweepy_gives_up_when_the_reset_is_too_far() -> None:
    sleeps: list[float] = []
    with FakeX(_tweets(5), rate_limited=1, reset_in=3600) as fake:
        client = _client(fake, sleeps, max_rate_limit_wait=60)
        with pytest.raises(SourceError, match=r"rate limited; reset in 360[01] s"):
            client.fetch_posts(FIXED_NOW - timedelta(hours=1), FIXED_NOW)
    assert sleeps == []


@pytest.mark.integration
def test_tweepy_clamps_to_seven_days_and_stops_at_max_items() -> None:
    with FakeX(_tweets(300, every=timedelta(hours=1))) as fake:
        result = _client(fake, max_items=120).fetch_posts(FIXED_NOW - timedelta(days=10), FIXED_NOW)
        first_call = fake.search_requests()[0]
    assert first_call.query["start_time"] == "2026-02-22T12:01:00Z"
    assert len(result.frame) == 120
    assert result.notes[0].startswith("recent search serves only the last 7 days")
    assert result.notes[1] == "stopped at max_items=120; older posts were not fetched"


@pytest.mark.integration
def test_tweepy_skips_windows_recent_search_cannot_serve() -> None:
    with FakeX(_tweets(5)) as fake:
        result = _client(fake).fetch_posts(
            FIXED_NOW - timedelta(days=30), FIXED_NOW - timedelta(days=20)
        )
        assert fake.search_requests() == []
    assert result.frame.empty
    assert "were not fetched" in result.notes[0]


@pytest.mark.integration
def test_tweepy_reports_bad_credentials() -> None:
    with FakeX(_tweets(5), bearer_token="right") as fake:
        client = TweepyX("wrong", "#BTC", api_url=fake.url, clock=lambda: FIXED_NOW)
        with pytest.raises(SourceError, match="Unauthorized"):
            client.fetch_posts(FIXED_NOW - timedelta(hours=1), FIXED_NOW)


def test_config_selects_the_backend(tmp_path: Path, shared_data: Path) -> None:
    sample = x_source_from_config(SocialConfig(), samples_root=tmp_path / "samples")
    assert isinstance(sample, ReplayX)
    assert sample.path == tmp_path.resolve() / "samples" / "social"
    replay = x_source_from_config(
        SocialConfig(replay_dir=shared_data / "social"), samples_root=tmp_path
    )
    assert isinstance(replay, ReplayX) and replay.path == shared_data / "social"
    with pytest.raises(ConfigError, match="X_BEARER_TOKEN"):
        x_source_from_config(SocialConfig(source="live"), samples_root=tmp_path, environ={})
    live = x_source_from_config(
        SocialConfig(source="live", x_query="#ETH"),
        samples_root=tmp_path,
        environ={"X_BEARER_TOKEN": "token"},
    )
    assert isinstance(live, TweepyX) and live.query == "#ETH"
