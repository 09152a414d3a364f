"""News feeds through feedparser: the real RSS files, a local HTTP feed server, bad entries."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.fakes.http_json_server import FakeHTTPServer, Reply, Request
from trading_core.config import NewsConfig
from trading_core.news import NEWS_COLUMNS, NewsFeeds, NewsSource, news_source_from_config
from trading_core.social.http_session import retrying_session
from trading_core.social.results import SourceError
from trading_core.warehouse import ensure_schema, replace_slice

FIXED_NOW = datetime(2026, 3, 1, 12, 0, 0)

RSS_WITH_BAD_DATES = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Edge Cases</title>
<item><title>Dated Bitcoin item</title><guid>id-1</guid><link>https://x.invalid/1</link>
  <pubDate>Tue, 03 Feb 2026 10:00:00 +0200</pubDate></item>
<item><title>Undated item</title><guid>id-2</guid></item>
<item><title>Badly dated item</title><guid>id-3</guid><pubDate>sometime soon</pubDate></item>
<item><title>No id &amp; no link</title>
  <description>&lt;p&gt;Ether &lt;b&gt;rallies&lt;/b&gt;&lt;/p&gt;</description>
  <pubDate>Wed, 04 Feb 2026 00:00:00 GMT</pubDate></item>
</channel></rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Wire</title>
<entry><title>Solana update</title><id>urn:uuid:1</id><updated>2026-02-05T08:30:00Z</updated>
<summary>Fees stay low.</summary></entry>
</feed>
"""


def _fits_table(frame: pd.DataFrame, table: str) -> int:
    with duckdb.connect(":memory:") as conn:
        ensure_schema(conn)
        return replace_slice(conn, table, frame, "true")


@pytest.fixture(scope="module")
def shared_feeds(shared_data: Path) -> list[str]:
    return sorted(str(p) for p in (shared_data / "news").glob("*.xml"))


def test_real_feed_files_become_news_rows(shared_feeds: list[str]) -> None:
    feeds = NewsFeeds(shared_feeds, clock=lambda: FIXED_NOW)
    assert isinstance(feeds, NewsSource)
    result = feeds.fetch_items()
    frame = result.frame
    assert result.rejects.empty and result.notes == ()
    assert list(frame.columns) == NEWS_COLUMNS
    assert len(frame) == 20 and frame["item_id"].is_unique
    assert set(frame["feed"]) == {"Cointelegraph - Article Feed", "Decrypt - Article Feed"}
    first = frame.iloc[0]
    assert first["published_at"] == pd.Timestamp("2026-01-30 22:02:19")
    assert first["item_id"].startswith("https://decrypt.co/356530/")
    assert first["symbols"] == "BTC"
    assert frame["published_at"].max() == pd.Timestamp("2026-02-15 06:17:48")
    assert (frame["source"] == "feedparser").all()
    assert (frame["ingested_at"] == FIXED_NOW).all()
    assert _fits_table(frame, "raw.news_items") == 20


def test_window_selects_by_publication_time(shared_feeds: list[str]) -> None:
    result = NewsFeeds(shared_feeds).fetch_items(start="2026-02-01", end="2026-02-02")
    assert len(result.frame) == 3
    assert result.frame["published_at"].between("2026-02-01", "2026-02-02").all()


def test_entries_without_a_usable_date_go_to_quarantine(tmp_path: Path) -> None:
    path = tmp_path / "edge.xml"
    path.write_text(RSS_WITH_BAD_DATES)
    result = NewsFeeds([str(path)]).fetch_items()
    frame = result.frame.set_index("item_id")
    assert frame.loc["id-1", "published_at"] == pd.Timestamp("2026-02-03 08:00:00")  # UTC
    hashed = [i for i in frame.index if i.startswith("h")]
    assert len(hashed) == 1
    assert frame.loc[hashed[0], "summary"] == "Ether rallies"
    assert frame.loc[hashed[0], "symbols"] == "ETH"
    assert list(result.rejects["reason"]) == [
        "missing date: no published or updated",
        "unparseable date: 'sometime soon'",
    ]
    payload = json.loads(result.rejects.iloc[1]["payload"])
    assert payload["origin"].endswith("edge.xml#entry3")
    assert payload["record"]["title"] == "Badly dated item"
    assert (result.rejects["asset_key"] == "raw/news_items").all()
    # the hash id is stable across reads
    assert NewsFeeds([str(path)]).fetch_items().frame["item_id"].tolist() == list(frame.index)


def test_atom_entries_fall_back_to_updated(tmp_path: Path) -> None:
    path = tmp_path / "atom.xml"
    path.write_text(ATOM)
    frame = NewsFeeds([str(path)]).fetch_items().frame
    assert frame.loc[0, "item_id"] == "urn:uuid:1"
    assert frame.loc[0, "published_at"] == pd.Timestamp("2026-02-05 08:30:00")
    assert frame.loc[0, "feed"] == "Atom Wire"


def test_a_feed_that_is_not_a_feed_is_one_reject(tmp_path: Path) -> None:
    path = tmp_path / "garbage.xml"
    path.write_text("<html><body>503 upstream unavailable")
    result = NewsFeeds([str(path)]).fetch_items()
    assert result.frame.empty
    assert len(result.rejects) == 1
    assert result.rejects.loc[0, "reason"].startswith("unparseable feed")


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        NewsFeeds([str(tmp_path / "nope.xml")]).fetch_items()


@pytest.mark.integration
def test_feeds_over_http_match_the_files(shared_data: Path, shared_feeds: list[str]) -> None:
    body = (shared_data / "news" / "decrypt_20260202.xml").read_bytes()
    rss = {"Content-Type": "application/rss+xml; charset=utf-8"}
    with FakeHTTPServer({("GET", "/decrypt.xml"): Reply(200, body, rss)}) as server:
        result = NewsFeeds([f"{server.url}/decrypt.xml"]).fetch_items()
        user_agent = server.requests[0].headers["user-agent"]
    from_file = NewsFeeds([str(shared_data / "news" / "decrypt_20260202.xml")]).fetch_items()
    columns = ["item_id", "feed", "title", "summary", "link", "published_at"]
    assert result.frame[columns].equals(from_file.frame[columns])
    assert user_agent.startswith("trading-pipelines/")


@pytest.mark.integration
def test_http_errors_are_retried_then_reported() -> None:
    calls = {"n": 0}

    def flaky(request: Request) -> Reply:
        calls["n"] += 1
        if calls["n"] == 1:
            return Reply(503, b"busy")
        return Reply(200, ATOM.encode(), {"Content-Type": "application/atom+xml"})

    with FakeHTTPServer({("GET", "/flaky.xml"): flaky}) as server:
        feeds = NewsFeeds([f"{server.url}/flaky.xml"], session=retrying_session(backoff=0))
        assert len(feeds.fetch_items().frame) == 1
        assert calls["n"] == 2
        with pytest.raises(SourceError, match=r"missing.xml: HTTP 404"):
            NewsFeeds([f"{server.url}/missing.xml"]).fetch_items()


def test_config_selects_feeds_or_the_sample(tmp_path: Path, shared_feeds: list[str]) -> None:
    sample = news_source_from_config(NewsConfig(), samples_root=tmp_path)
    assert isinstance(sample, NewsFeeds)
    assert [Path(f).parent for f in sample.feeds] == [tmp_path.resolve() / "news"] * 2
    configured = news_source_from_config(NewsConfig(feeds=shared_feeds), samples_root=tmp_path)
    assert isinstance(configured, NewsFeeds) and configured.feeds == shared_feeds
