"""News items for ``raw/news_items``: RSS/Atom feeds read with feedparser, from URLs or files.

:class:`NewsFeeds` takes feed locations: ``http(s)://`` URLs are downloaded with requests
(timeouts, retries; feedparser's own downloader has neither) and local paths are read from
disk; feedparser parses both. Each entry becomes one row with the columns of
``raw.news_items``:
- ``item_id``: the entry's guid, else its link, else ``h`` + a hash of feed, title and summary
  (stable across re-reads, so re-ingesting a feed replaces rather than duplicates);
- ``feed``: the feed's own title, else the file or URL it came from;
- ``published_at``: ``published``, else ``updated``, in naive UTC (feedparser normalises
  every date format it understands to UTC);
- ``summary``: plain text (markup removed); ``symbols`` and VADER sentiment from title + summary.
Entries sharing an id with different content are all quarantined (none stored); an entry dated
outside every partition (``horizon``), with a title/summary over
:data:`~trading_core.quality.alt_records.MAX_TEXT_CHARS` characters, or with neither title nor
description (RSS 2.0 requires one; typically the entry a broken tag damaged) is quarantined.
An entry without a usable date is not dropped: it goes to the rejects with the reason (it cannot
be placed in time, so every fetch reports it). A feed that cannot be parsed at all is one
reject; a feed that cannot be downloaded raises :class:`SourceError`.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import io
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import feedparser
import pandas as pd
import requests

from trading_core.config import NewsConfig
from trading_core.quality.alt_records import Horizon, check_text_length, quarantine_conflicts
from trading_core.samples import ensure_samples
from trading_core.social.http_session import retrying_session
from trading_core.social.results import FetchResult, RecordRejected, RejectLog, SourceError
from trading_core.social.sentiment import with_sentiment
from trading_core.social.symbols import detect_symbols
from trading_core.social.times import TimeLike, epoch_to_utc
from trading_core.timeframes import naive_utc, utc_now
from trading_core.warehouse import table_columns

ASSET_KEY = "raw/news_items"
NEWS_COLUMNS: list[str] = table_columns("raw.news_items")
_XML = "application/xml"  # what feedparser assumes of a feed that names no type
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


@runtime_checkable
class NewsSource(Protocol):
    """What every news backend offers."""

    def fetch_items(
        self,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        horizon: Horizon | None = None,
    ) -> FetchResult:
        """Items published in ``[start, end)`` (naive UTC; None = unbounded), plus rejects
        (including every item dated outside ``horizon``)."""
        ...


def plain_text(markup: str | None) -> str | None:
    """Feed HTML as one line of text: tags removed, entities decoded, spaces collapsed."""
    if not markup:
        return None
    text = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", markup))).strip()
    return text or None


def entry_id(entry: Any, feed: str) -> str:
    """guid, else link, else a hash of feed, title and summary."""
    for key in ("id", "link"):
        value = (entry.get(key) or "").strip()
        if value:
            return value
    basis = "\x1f".join([feed, entry.get("title") or "", entry.get("summary") or ""])
    return "h" + hashlib.sha256(basis.encode()).hexdigest()[:16]


def entry_published_at(entry: Any) -> datetime | None:
    """The entry's publication (else update) time in naive UTC; None when it has none usable."""
    for key in ("published_parsed", "updated_parsed"):
        parsed = entry.get(key)
        if parsed:
            return epoch_to_utc(calendar.timegm(parsed))
    return None


def _date_problem(entry: Any) -> str:
    raw = entry.get("published") or entry.get("updated")
    if raw:
        return f"unparseable date: {raw!r}"
    return "missing date: no published or updated"


def _entry_record(entry: Any) -> dict[str, Any]:
    keys = ("id", "link", "title", "summary", "published", "updated")
    return {key: entry.get(key) for key in keys if entry.get(key) is not None}


class NewsFeeds:
    """Items from RSS/Atom feeds at ``feeds`` (URLs or local file paths)."""

    def __init__(
        self,
        feeds: list[str],
        *,
        session: requests.Session | None = None,
        timeout: float = 20.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not feeds:
            raise ValueError("NewsFeeds needs at least one feed URL or file path")
        self.feeds = list(feeds)
        self.timeout = timeout
        self._session = session
        self._clock = clock

    def _download(self, location: str) -> tuple[bytes, dict[str, str]]:
        if location.startswith(("http://", "https://")):
            if self._session is None:
                self._session = retrying_session()
            try:
                response = self._session.get(location, timeout=self.timeout)
            except requests.RequestException as exc:
                raise SourceError(f"news feed {location}: {type(exc).__name__}: {exc}") from exc
            if response.status_code != 200:
                raise SourceError(f"news feed {location}: HTTP {response.status_code}")
            content_type = response.headers.get("content-type", _XML)
            return response.content, {"content-location": location, "content-type": content_type}
        path = Path(location.removeprefix("file://")).expanduser()
        if not path.is_file():
            raise SourceError(f"news feed {location}: no such file")
        # No content-location: feedparser would resolve relative guids against the file's path,
        # making item ids depend on where the file happens to live.
        return path.read_bytes(), {"content-type": _XML}

    def fetch_items(
        self,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        horizon: Horizon | None = None,
    ) -> FetchResult:
        lo = naive_utc(start) if start is not None else None
        hi = naive_utc(end) if end is not None else None
        rejects = RejectLog(ASSET_KEY, self._clock())
        rows: list[dict[str, Any]] = []
        notes: list[str] = []
        for location in self.feeds:
            body, headers = self._download(location)
            parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
            if parsed.bozo and not parsed.entries:
                reason = f"unparseable feed: {parsed.get('bozo_exception')}"
                rejects.add(reason, origin=location, record=body[:2000].decode(errors="replace"))
                continue
            if parsed.bozo:
                notes.append(
                    f"{location}: not well-formed ({parsed.get('bozo_exception')}); "
                    f"{len(parsed.entries)} entries read anyway"
                )
            feed = (parsed.feed.get("title") or "").strip() or _feed_label(location)
            for number, entry in enumerate(parsed.entries, start=1):
                origin = f"{location}#entry{number}"
                published = entry_published_at(entry)
                if published is None:
                    rejects.add(_date_problem(entry), origin=origin, record=_entry_record(entry))
                    continue
                stray = horizon.problem("published_at", published) if horizon else None
                if stray is not None:
                    rejects.add(stray, origin=origin, record=_entry_record(entry))
                    continue
                if (lo is not None and published < lo) or (hi is not None and published >= hi):
                    continue
                row = {
                    "item_id": entry_id(entry, feed),
                    "feed": feed,
                    "title": plain_text(entry.get("title")),
                    "summary": plain_text(entry.get("summary")),
                    "link": entry.get("link"),
                    "published_at": published,
                }
                try:
                    if row["title"] is None and row["summary"] is None:
                        raise RecordRejected(_incomplete(parsed))
                    for field in ("title", "summary"):
                        check_text_length(field, row[field])
                except RecordRejected as exc:
                    rejects.add(str(exc), origin=origin, record=_entry_record(entry))
                    continue
                rows.append(row)
        frame = items_frame(rows, rejects.ingested_at, rejects=rejects)
        return FetchResult(frame, rejects.frame(), tuple(notes))


def _incomplete(parsed: Any) -> str:
    """Why an entry with neither title nor description is refused (RSS 2.0 requires one); in a
    feed that is not well-formed it is usually the entry the XML error broke."""
    reason = "malformed entry: neither title nor description"
    if parsed.bozo:
        reason += f" (feed not well-formed: {parsed.get('bozo_exception')})"
    return reason


def _feed_label(location: str) -> str:
    if location.startswith(("http://", "https://")):
        return location
    return Path(location).stem


# What makes two entries with one id the same item (the feed name may differ: one article
# syndicated by two feeds is one item, the first feed read is kept).
CONTENT_FIELDS = ["title", "summary", "link", "published_at"]


def items_frame(
    rows: list[dict[str, Any]], ingested_at: datetime, *, rejects: RejectLog
) -> pd.DataFrame:
    """``raw.news_items`` rows: one per item id, in time order, with symbols and sentiment.
    Entries sharing an id (guid) whose content differs go to ``rejects``, all of them."""
    base = ["item_id", "feed", "title", "summary", "link", "published_at"]
    frame = pd.DataFrame(rows, columns=base)
    frame = quarantine_conflicts(frame, ["item_id"], CONTENT_FIELDS, rejects)
    frame = frame.sort_values(["published_at", "item_id"], kind="stable").reset_index(drop=True)
    texts = [
        ". ".join(p for p in (t, s) if isinstance(p, str) and p)
        for t, s in zip(frame["title"], frame["summary"], strict=True)
    ]
    frame["symbols"] = [detect_symbols(t) for t in texts]
    frame = with_sentiment(frame, texts)
    frame["source"] = "feedparser"
    frame["ingested_at"] = ingested_at
    for column in ("published_at", "ingested_at"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    return frame[NEWS_COLUMNS]


def news_source_from_config(config: NewsConfig, *, samples_root: Path | str) -> NewsSource:
    """:class:`NewsFeeds` on ``config.feeds``, or, when it is empty, on the embedded sample
    feeds (re)written under ``samples_root``."""
    if config.feeds:
        return NewsFeeds(config.feeds)
    return NewsFeeds([str(p) for p in ensure_samples(samples_root).news_feeds])
