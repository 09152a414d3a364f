"""Reddit backends: replay of the shared scrape (local-time conversion), praw against a fake."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.fakes.reddit_server import FakeReddit, submission
from trading_core.config import ConfigError, SocialConfig
from trading_core.quality.alt_records import Horizon
from trading_core.social.reddit import (
    REDDIT_COLUMNS,
    PrawReddit,
    RedditSource,
    ReplayReddit,
    author_pseudonym,
    reddit_source_from_config,
)
from trading_core.social.results import QUARANTINE_COLUMNS, SourceError
from trading_core.warehouse import ensure_schema, replace_slice

FIXED_NOW = datetime(2026, 3, 1, 12, 0, 0)


def _fits_table(frame: pd.DataFrame, table: str) -> int:
    with duckdb.connect(":memory:") as conn:
        ensure_schema(conn)
        return replace_slice(conn, table, frame, "true")


@pytest.fixture(scope="module")
def shared_reddit(shared_data: Path) -> pd.DataFrame:
    replay = ReplayReddit(shared_data / "social", clock=lambda: FIXED_NOW)
    result = replay.fetch_posts("2000-01-01", "2100-01-01")
    assert result.rejects.empty
    return result.frame


def test_replay_reads_every_post_of_the_shared_scrape(shared_reddit: pd.DataFrame) -> None:
    assert len(shared_reddit) == 831
    assert shared_reddit["post_id"].is_unique
    assert list(shared_reddit.columns) == REDDIT_COLUMNS
    assert set(shared_reddit["subreddit"]) == {"cryptocurrency", "bitcoin", "solana", "ethereum"}
    assert (shared_reddit["source"] == "replay").all()
    assert (shared_reddit["ingested_at"] == FIXED_NOW).all()
    assert shared_reddit["published_at"].is_monotonic_increasing
    assert _fits_table(shared_reddit, "raw.reddit_posts") == 831


def test_replay_converts_the_scrapers_local_time_to_utc(shared_reddit: pd.DataFrame) -> None:
    # created_local 2025-10-10T22:37:20 (Africa/Casablanca, UTC+1) for the liquidation post.
    post = shared_reddit.set_index("post_id").loc["1o3dtr6"]
    assert post["published_at"] == pd.Timestamp("2025-10-10 21:37:20")


def test_source_timezone_is_configurable_and_validated(shared_data: Path) -> None:
    as_utc = ReplayReddit(shared_data / "social", source_timezone="UTC")
    frame = as_utc.fetch_posts("2025-10-10", "2025-10-11").frame.set_index("post_id")
    assert frame.loc["1o3dtr6", "published_at"] == pd.Timestamp("2025-10-10 22:37:20")
    with pytest.raises(ValueError, match="IANA"):
        ReplayReddit(shared_data / "social", source_timezone="Mars/Olympus")


def test_replay_adds_symbols_and_sentiment(shared_reddit: pd.DataFrame) -> None:
    solana = shared_reddit[shared_reddit["subreddit"] == "solana"]
    assert solana["symbols"].str.contains("SOL", na=False).mean() > 0.3
    assert shared_reddit["sentiment_compound"].between(-1, 1).all()
    total = shared_reddit[["sentiment_pos", "sentiment_neu", "sentiment_neg"]].sum(axis=1)
    assert total.round(2).between(0.99, 1.01).all()


def test_replay_window_is_half_open_utc(shared_reddit: pd.DataFrame, shared_data: Path) -> None:
    start, end = pd.Timestamp("2025-10-10"), pd.Timestamp("2025-10-11")
    day = ReplayReddit(shared_data / "social").fetch_posts(start, end).frame
    expected = shared_reddit[
        (shared_reddit["published_at"] >= start) & (shared_reddit["published_at"] < end)
    ]
    assert sorted(day["post_id"]) == sorted(expected["post_id"])
    assert len(day) > 0
    with pytest.raises(ValueError, match="empty window"):
        ReplayReddit(shared_data / "social").fetch_posts(end, start)


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_malformed_lines_become_rejects_with_reasons(tmp_path: Path) -> None:
    good = {"post_id": "ok1", "title": "Bitcoin!", "created_local": "2025-10-01T12:00:00"}
    file = _write_lines(
        tmp_path / "reddit_bad.jsonl",
        [
            json.dumps(good),
            "{not json",
            json.dumps([1, 2]),
            json.dumps({"title": "no id", "created_local": "2025-10-01T12:00:00"}),
            json.dumps({"post_id": "d1", "created_local": "yesterday-ish"}),
            json.dumps({"post_id": "d2"}),
            json.dumps({"post_id": "s1", "score": "lots", "created_local": "2025-10-01T13:00:00"}),
            json.dumps({"post_id": "s2", "score": 5, "created_local": "2024-01-01T00:00:00"}),
            "",
        ],
    )
    result = ReplayReddit(file, source_timezone="UTC").fetch_posts("2025-10-01", "2025-10-02")
    assert list(result.frame["post_id"]) == ["ok1"]
    assert list(result.rejects.columns) == QUARANTINE_COLUMNS
    reasons = list(result.rejects["reason"])
    assert reasons[0].startswith("invalid JSON")
    assert reasons[1] == "invalid JSON: expected an object, got list"
    assert reasons[2] == "missing field: post_id"
    assert reasons[3] == "unparseable created_local: 'yesterday-ish'"
    assert reasons[4] == "missing field: created_local (or created_utc)"
    assert reasons[5] == "bad field score: expected a number, got 'lots'"
    # s2 is dated outside the window: not this fetch's reject (s2 is also valid anyway).
    assert len(reasons) == 6
    payloads = [json.loads(p) for p in result.rejects["payload"]]
    assert payloads[0] == {"origin": "reddit_bad.jsonl:2", "record": "{not json"}
    assert payloads[2]["record"]["title"] == "no id"
    assert (result.rejects["asset_key"] == "raw/reddit_posts").all()
    assert result.rejects["partition_key"].isna().all()
    stamped = result.for_partition("2025-10-01").rejects
    assert (stamped["partition_key"] == "2025-10-01").all()
    assert _fits_table(stamped, "raw.quarantine") == 6


def test_raw_user_names_are_pseudonymised_everywhere(tmp_path: Path) -> None:
    file = _write_lines(
        tmp_path / "reddit_names.jsonl",
        [
            json.dumps({"post_id": "a", "author": "RealName42", "created_utc": 1759320000}),
            json.dumps({"post_id": "b", "author": "RealName42", "created_utc": "soon"}),
        ],
    )
    result = ReplayReddit(file).fetch_posts("2025-10-01", "2025-10-02")
    assert list(result.frame["author_hash"]) == [author_pseudonym("RealName42")]
    assert result.frame.loc[0, "published_at"] == pd.Timestamp("2025-10-01 12:00:00")
    assert len(result.rejects) == 1
    assert "RealName42" not in result.rejects.loc[0, "payload"]
    assert author_pseudonym("RealName42").startswith("u_")


def test_replay_fails_loudly_on_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="reddit_"):
        ReplayReddit(tmp_path).fetch_posts("2025-01-01", "2025-01-02")


# --- praw against a local fake Reddit ----------------------------------------------------------


def _hourly_posts(now: datetime, count: int, prefix: str = "p") -> list[dict]:
    epoch = (now - datetime(1970, 1, 1)).total_seconds()
    return [
        submission(
            f"{prefix}{i:03d}",
            "CryptoCurrency",
            epoch - 3600 * i - 60,
            f"Ethereum update number {i}, great news" if i % 2 else f"Bitcoin crash {i}, awful",
            author=f"user{i % 7}",
            score=i,
            num_comments=i // 2,
        )
        for i in range(count)
    ]


def _praw(fake: FakeReddit, subreddits: list[str], **kwargs: object) -> PrawReddit:
    return PrawReddit(
        fake.client_id,
        fake.client_secret,
        "trading-pipelines tests (by u/nobody)",
        subreddits,
        oauth_url=fake.url,
        reddit_url=fake.url,
        clock=lambda: FIXED_NOW,
        **kwargs,
    )


@pytest.mark.integration
def test_praw_pages_through_new_until_the_window_start() -> None:
    posts = {"CryptoCurrency": _hourly_posts(FIXED_NOW, 250)}
    with FakeReddit(posts) as fake:
        reddit = _praw(fake, ["CryptoCurrency"], limit=1000)
        assert isinstance(reddit, RedditSource)
        result = reddit.fetch_posts(
            FIXED_NOW - timedelta(hours=150), FIXED_NOW - timedelta(hours=10)
        )
        listing = fake.listing_requests("CryptoCurrency")
        token_calls = [r for r in fake.requests if r.path == "/api/v1/access_token"]
    # posts 10..149 are inside [now-150h, now-10h)
    assert sorted(result.frame["post_id"]) == [f"p{i:03d}" for i in range(10, 150)]
    assert result.rejects.empty and result.notes == ()
    assert len(token_calls) == 1
    # page 1 (p000-p099), page 2 (p100-p199) holds the first post before the window: stop there.
    assert len(listing) == 2
    assert listing[1].query["after"] == "t3_p099"
    frame = result.frame.set_index("post_id")
    assert frame.loc["p010", "subreddit"] == "cryptocurrency"
    assert frame.loc["p010", "published_at"] == pd.Timestamp(
        FIXED_NOW - timedelta(hours=10, minutes=1)
    )
    assert frame.loc["p011", "symbols"] == "ETH"
    assert frame.loc["p011", "sentiment_compound"] > 0
    assert frame.loc["p010", "sentiment_compound"] < 0
    assert frame.loc["p010", "author_hash"] == author_pseudonym("user3")
    assert frame.loc["p012", "score"] == 12
    assert (result.frame["source"] == "praw").all()
    assert _fits_table(result.frame, "raw.reddit_posts") == 140


@pytest.mark.integration
def test_praw_notes_when_the_limit_cuts_the_window_short() -> None:
    posts = {
        "bitcoin": _hourly_posts(FIXED_NOW, 120),
        "solana": _hourly_posts(FIXED_NOW, 5, prefix="s"),
    }
    with FakeReddit(posts) as fake:
        result = _praw(fake, ["bitcoin", "solana"], limit=50).fetch_posts(
            FIXED_NOW - timedelta(days=30), FIXED_NOW
        )
    assert len(result.frame) == 55  # the newest 50 of r/bitcoin, all 5 of r/solana
    assert len(result.notes) == 1
    assert result.notes[0].startswith("r/bitcoin: stopped at the limit of 50 posts")


@pytest.mark.integration
def test_praw_rejects_submissions_it_cannot_date() -> None:
    good = _hourly_posts(FIXED_NOW, 2)
    broken = submission("bad1", "CryptoCurrency", 0, "Solana to the moon", author="Someone")
    broken["created_utc"] = "not a time"
    with FakeReddit({"CryptoCurrency": [*good, broken]}) as fake:
        result = _praw(fake, ["CryptoCurrency"]).fetch_posts(
            FIXED_NOW - timedelta(days=1), FIXED_NOW
        )
    assert sorted(result.frame["post_id"]) == ["p000", "p001"]
    assert list(result.rejects["reason"]) == [
        "bad field created_utc: expected epoch seconds, got 'not a time'"
    ]
    payload = json.loads(result.rejects.loc[0, "payload"])
    assert payload["record"]["id"] == "bad1"
    assert payload["record"]["author_hash"] == author_pseudonym("Someone")
    assert "Someone" not in result.rejects.loc[0, "payload"]


@pytest.mark.integration
def test_praw_wraps_auth_failures_in_a_source_error() -> None:
    with FakeReddit({"bitcoin": []}) as fake:
        reddit = PrawReddit(
            "wrong-id",
            "wrong-secret",
            "trading-pipelines tests (by u/nobody)",
            ["bitcoin"],
            oauth_url=fake.url,
            reddit_url=fake.url,
        )
        with pytest.raises(SourceError, match="reddit r/bitcoin/new"):
            reddit.fetch_posts(FIXED_NOW - timedelta(days=1), FIXED_NOW)


def test_praw_refuses_missing_credentials() -> None:
    with pytest.raises(ValueError, match="client_secret"):
        PrawReddit("id", "", "agent string", ["bitcoin"])


# --- choosing the backend from configuration ---------------------------------------------------


def test_config_selects_the_backend(tmp_path: Path, shared_data: Path) -> None:
    sample = reddit_source_from_config(SocialConfig(), samples_root=tmp_path / "samples")
    assert isinstance(sample, ReplayReddit)
    assert sample.source_timezone == "UTC"
    assert sample.path == tmp_path.resolve() / "samples" / "social"

    replay = reddit_source_from_config(
        SocialConfig(replay_dir=shared_data / "social"), samples_root=tmp_path
    )
    assert isinstance(replay, ReplayReddit)
    assert replay.source_timezone == "Africa/Casablanca"

    with pytest.raises(ConfigError, match="REDDIT_CLIENT_ID"):
        reddit_source_from_config(SocialConfig(source="live"), samples_root=tmp_path, environ={})
    live = reddit_source_from_config(
        SocialConfig(source="live", subreddits=["solana"], max_items=30),
        samples_root=tmp_path,
        environ={"REDDIT_CLIENT_ID": "id", "REDDIT_CLIENT_SECRET": "secret"},
    )
    assert isinstance(live, PrawReddit)
    assert (live.subreddits, live.limit) == (["solana"], 30)


@pytest.mark.integration
def test_praw_quarantines_a_post_dated_2999_and_a_huge_one() -> None:
    good = _hourly_posts(FIXED_NOW, 3)
    future = submission("far1", "CryptoCurrency", 32472144000, "Bitcoin from the future")
    huge = submission(
        "big1", "CryptoCurrency", good[0]["created_utc"] - 30, "Long", selftext="hodl " * 30_000
    )
    horizon = Horizon(datetime(2020, 1, 1), FIXED_NOW + timedelta(minutes=5))
    with FakeReddit({"CryptoCurrency": [future, huge, *good]}) as fake:
        result = _praw(fake, ["CryptoCurrency"]).fetch_posts(
            FIXED_NOW - timedelta(days=1), FIXED_NOW, horizon=horizon
        )
    assert sorted(result.frame["post_id"]) == ["p000", "p001", "p002"]
    reasons = list(result.rejects["reason"])
    assert reasons[0].startswith("outside every partition: published_at 2999-01-01T00:00:00")
    assert reasons[1] == "text too long: selftext has 150,000 characters (limit 100,000 per field)"
