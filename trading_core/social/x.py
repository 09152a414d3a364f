"""Posts on X for ``raw/x_posts``: live through tweepy (recent search), offline from JSON lines.

Both backends return a :class:`~trading_core.social.results.FetchResult` whose frame has exactly
the columns of ``raw.x_posts``: one row per post published in ``[start, end)`` (naive UTC), with
the assets it mentions, VADER sentiment, ``source`` (``tweepy`` | ``replay``) and ``ingested_at``.

Replay layout (``../shared/data/social/tweets_*.jsonl``): ``{"created_at": ..., "text": ...}``
per line. ``created_at`` is naive; the file does not state a zone and X's API serves UTC, so it
is read as UTC unless ``source_timezone`` says otherwise. Lines carry no id: the id is derived
from ``created_at`` and ``text`` (:func:`derived_post_id`), so re-reading a file gives the same ids
and an identical line repeated is one post.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import pandas as pd
import requests
from requests.adapters import HTTPAdapter

from trading_core.config import SocialConfig
from trading_core.quality.alt_records import Horizon, check_text_length, quarantine_conflicts
from trading_core.samples import ensure_samples
from trading_core.social.credentials import require_env
from trading_core.social.jsonlines import read_lines, replay_files, rows_in_window
from trading_core.social.results import FetchResult, RecordRejected, RejectLog, SourceError
from trading_core.social.sentiment import with_sentiment
from trading_core.social.symbols import detect_symbols
from trading_core.social.times import TimeLike, local_to_utc, utc_window, zone
from trading_core.timeframes import naive_utc, utc_now
from trading_core.warehouse import table_columns

ASSET_KEY = "raw/x_posts"
X_COLUMNS: list[str] = table_columns("raw.x_posts")
REPLAY_PATTERN = "tweets_*.jsonl"
TWEEPY_API_URL = "https://api.twitter.com"  # the host tweepy.Client calls
# Recent search serves the last 7 days and refuses an end_time less than 10 s before now.
RECENT_SEARCH_SPAN = timedelta(days=7)
RECENT_SEARCH_LAG = timedelta(seconds=10)


@runtime_checkable
class XSource(Protocol):
    """What every X backend offers."""

    def fetch_posts(
        self, start: TimeLike, end: TimeLike, *, horizon: Horizon | None = None
    ) -> FetchResult:
        """Posts published in ``[start, end)`` (naive UTC), plus the records it rejected
        (including every post it saw dated outside ``horizon``)."""
        ...


@dataclass(frozen=True)
class XPost:
    post_id: str
    text: str | None
    published_at: datetime


def derived_post_id(created_at: str, text: str) -> str:
    """A stable id for a post that has none: ``h`` + 16 hex digits of SHA-256(created_at, text)."""
    digest = hashlib.sha256(f"{created_at}\x1f{text}".encode()).hexdigest()
    return "h" + digest[:16]


def posts_frame(
    posts: Iterable[XPost], *, source: str, ingested_at: datetime, rejects: RejectLog
) -> pd.DataFrame:
    """``raw.x_posts`` rows: one per id, in time order, with symbols and sentiment. Copies of a
    post collapse to one; versions of an id that differ go to ``rejects``, all of them."""
    frame = pd.DataFrame([vars(p) for p in posts], columns=list(XPost.__dataclass_fields__))
    frame = quarantine_conflicts(frame, ["post_id"], ["text", "published_at"], rejects)
    frame = frame.sort_values(["published_at", "post_id"], kind="stable").reset_index(drop=True)
    frame["symbols"] = [detect_symbols(t) for t in frame["text"]]
    frame = with_sentiment(frame, frame["text"])
    frame["source"] = source
    frame["ingested_at"] = ingested_at
    for column in ("published_at", "ingested_at"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    return frame[X_COLUMNS]


def _published_at(record: dict[str, Any], source_zone: ZoneInfo) -> datetime:
    created = record.get("created_at")
    if created is None:
        raise RecordRejected("missing field: created_at")
    try:
        parsed = datetime.fromisoformat(str(created))
    except ValueError:
        raise RecordRejected(f"unparseable created_at: {created!r}") from None
    if parsed.tzinfo is not None:
        return naive_utc(parsed)
    return local_to_utc(parsed, source_zone)


def _try_published_at(record: dict[str, Any], source_zone: ZoneInfo) -> datetime | None:
    try:
        return _published_at(record, source_zone)
    except RecordRejected:
        return None


def record_to_post(record: dict[str, Any], source_zone: ZoneInfo) -> XPost:
    """One replay record as a post; raises ``ValueError`` naming what is wrong with it."""
    published = _published_at(record, source_zone)
    text = record.get("text")
    if not isinstance(text, str):
        raise RecordRejected("missing field: text" if text is None else "bad field text: not text")
    check_text_length("text", text)
    post_id = record.get("id") or derived_post_id(str(record["created_at"]), text)
    return XPost(post_id=str(post_id), text=text, published_at=published)


class ReplayX:
    """Posts from JSON-lines files in the layout of ``../shared/data/social/tweets_*.jsonl``.

    ``path`` is one file or a directory (every ``tweets_*.jsonl`` in it).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        source_timezone: str = "UTC",
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.path = Path(path)
        self.source_timezone = source_timezone
        self._zone = zone(source_timezone)
        self._clock = clock

    def fetch_posts(
        self, start: TimeLike, end: TimeLike, *, horizon: Horizon | None = None
    ) -> FetchResult:
        lo, hi = utc_window(start, end)
        rejects = RejectLog(ASSET_KEY, self._clock())
        posts = rows_in_window(
            read_lines(replay_files(self.path, REPLAY_PATTERN)),
            lo,
            hi,
            rejects,
            parse=lambda record: record_to_post(record, self._zone),
            event_time=lambda post: post.published_at,
            try_event_time=lambda record: _try_published_at(record, self._zone),
            horizon=horizon,
        )
        frame = posts_frame(
            posts, source="replay", ingested_at=rejects.ingested_at, rejects=rejects
        )
        return FetchResult(frame, rejects.frame())


class _RedirectAdapter(HTTPAdapter):
    """Sends requests for one base URL to another (an API gateway, or a local fake in tests)."""

    def __init__(self, source: str, target: str) -> None:
        super().__init__()
        self._source = source.rstrip("/")
        self._target = target.rstrip("/")

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        if request.url and request.url.startswith(self._source):
            request.url = self._target + request.url[len(self._source) :]
        return super().send(
            request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
        )


class TweepyX:
    """Posts from X's recent search (``GET /2/tweets/search/recent``) through ``tweepy.Client``.

    Pages with ``next_token`` until no token is left or ``max_items`` posts were read. The window
    is clamped to what recent search serves (the last 7 days, ending 10 s before now); a window
    reaching further back than 7 days says so in ``notes``. On HTTP 429 it waits until
    ``x-rate-limit-reset`` (at most ``max_rate_limit_wait`` seconds, else it fails) and retries,
    up to ``max_retries`` times.
    ``api_url`` replaces tweepy's fixed host (``https://api.twitter.com``), e.g. with a gateway.
    """

    def __init__(
        self,
        bearer_token: str,
        query: str,
        *,
        max_items: int = 200,
        page_size: int = 100,
        api_url: str = TWEEPY_API_URL,
        max_retries: int = 3,
        max_rate_limit_wait: float = 900.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        import tweepy  # ~0.2 s to import, and only live runs need it

        if not bearer_token:
            raise ValueError("TweepyX needs bearer_token (from the environment, never code)")
        if not query.strip():
            raise ValueError("TweepyX needs a non-empty query")
        if not 10 <= page_size <= 100:
            raise ValueError(f"page_size must be within 10..100 (recent search), got {page_size}")
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        self.query = query
        self.max_items = max_items
        self.page_size = page_size
        self.max_retries = max_retries
        self.max_rate_limit_wait = max_rate_limit_wait
        self._sleep = sleep
        self._clock = clock
        # Our own 429 handling (below) bounds the wait; tweepy's would sleep unbounded.
        self._client = tweepy.Client(bearer_token=bearer_token, wait_on_rate_limit=False)
        if api_url.rstrip("/") != TWEEPY_API_URL:
            self._client.session.mount(TWEEPY_API_URL, _RedirectAdapter(TWEEPY_API_URL, api_url))

    def fetch_posts(
        self, start: TimeLike, end: TimeLike, *, horizon: Horizon | None = None
    ) -> FetchResult:
        lo, hi = utc_window(start, end)
        now = self._clock()
        rejects = RejectLog(ASSET_KEY, now)
        notes: list[str] = []
        search_lo = max(lo, now - RECENT_SEARCH_SPAN + timedelta(minutes=1))
        search_hi = min(hi, now - RECENT_SEARCH_LAG)
        # Posts of the last 10 s are simply not searchable yet; only a lost past is noted.
        if search_lo > lo:
            notes.append(
                f"recent search serves only the last 7 days: posts before "
                f"{min(search_lo, hi).isoformat()} in the window {lo.isoformat()}.."
                f"{hi.isoformat()} were not fetched"
            )
        posts: list[XPost] = []
        if search_lo < search_hi:
            posts = self._search(search_lo, search_hi, rejects, notes, horizon)
        frame = posts_frame(posts, source="tweepy", ingested_at=now, rejects=rejects)
        return FetchResult(frame, rejects.frame(), tuple(notes))

    def _search(
        self,
        lo: datetime,
        hi: datetime,
        rejects: RejectLog,
        notes: list[str],
        horizon: Horizon | None,
    ) -> list[XPost]:
        posts: list[XPost] = []
        token: str | None = None
        page = 0
        while True:
            page += 1
            remaining = self.max_items - len(posts)
            response = self._page(lo, hi, token, max(10, min(self.page_size, remaining)))
            for tweet in response.data or []:
                post = _tweet_to_post(tweet, rejects, origin=f"search page {page}", horizon=horizon)
                if post is not None and lo <= post.published_at < hi:
                    posts.append(post)
            token = (response.meta or {}).get("next_token")
            if len(posts) >= self.max_items:
                if token or len(posts) > self.max_items:
                    notes.append(
                        f"stopped at max_items={self.max_items}; older posts were not fetched"
                    )
                return posts[: self.max_items]  # newest first: keep the most recent
            if not token:
                return posts

    def _page(self, lo: datetime, hi: datetime, token: str | None, size: int) -> Any:
        import tweepy  # loaded by __init__; named here for its exceptions

        attempt = 0
        while True:
            try:
                return self._client.search_recent_tweets(
                    self.query,
                    start_time=lo,
                    end_time=hi,
                    max_results=size,
                    next_token=token,
                    tweet_fields=["created_at", "lang"],
                )
            except tweepy.TooManyRequests as exc:
                wait = _rate_limit_wait(exc.reset_time, time.time())
                if attempt >= self.max_retries or wait > self.max_rate_limit_wait:
                    raise SourceError(
                        f"x recent search: rate limited; reset in {wait:.0f} s "
                        f"(attempt {attempt + 1}, max wait {self.max_rate_limit_wait:.0f} s)"
                    ) from exc
                self._sleep(wait)
                attempt += 1
            except tweepy.TweepyException as exc:
                raise SourceError(f"x recent search: {type(exc).__name__}: {exc}") from exc


def _rate_limit_wait(reset_epoch: int | None, now_epoch: float) -> float:
    """Seconds until the rate-limit window resets (+1 s of margin); 1 s when unknown."""
    if reset_epoch is None:
        return 1.0
    return max(float(reset_epoch) - now_epoch, 0.0) + 1.0


def _tweet_to_post(
    tweet: Any, rejects: RejectLog, *, origin: str, horizon: Horizon | None = None
) -> XPost | None:
    data = getattr(tweet, "data", {}) or {}
    created = getattr(tweet, "created_at", None)
    if created is None:
        rejects.add("missing field: created_at", origin=origin, record=data)
        return None
    published = naive_utc(created)
    problem = horizon.problem("published_at", published) if horizon is not None else None
    try:
        check_text_length("text", tweet.text)
    except RecordRejected as exc:
        problem = problem or str(exc)
    if problem is not None:
        rejects.add(problem, origin=origin, record=data)
        return None
    return XPost(post_id=str(tweet.id), text=tweet.text, published_at=published)


def x_source_from_config(
    config: SocialConfig,
    *,
    samples_root: Path | str,
    environ: Mapping[str, str] | None = None,
) -> XSource:
    """The backend ``config.source`` selects.

    ``live``: :class:`TweepyX` searching ``config.x_query`` with ``X_BEARER_TOKEN`` from the
    environment. ``replay``: :class:`ReplayX` on ``config.replay_dir``, or, when it is unset,
    on the embedded sample (re)written under ``samples_root``.
    """
    env = os.environ if environ is None else environ
    if config.source == "live":
        return TweepyX(
            bearer_token=require_env(env, "X_BEARER_TOKEN", "social.source=live (X)"),
            query=config.x_query,
            max_items=config.max_items,
        )
    if config.replay_dir is not None:
        return ReplayX(config.replay_dir)
    return ReplayX(ensure_samples(samples_root).social_dir)
