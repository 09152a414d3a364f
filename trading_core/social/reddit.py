"""Reddit posts for ``raw/reddit_posts``: live through praw, offline from JSON lines.

Both backends return a :class:`~trading_core.social.results.FetchResult` whose frame has exactly
the columns of ``raw.reddit_posts``: one row per post published in ``[start, end)`` (naive UTC),
with the assets it mentions (title + body), VADER sentiment, ``source`` (``praw`` | ``replay``)
and ``ingested_at`` (when this fetch ran). User names never leave this module: authors become
``u_<sha256 prefix>`` pseudonyms, the form used by the shared scrape.

Times in the replay layout (``../shared/data/social/reddit_*.jsonl``): each line carries either
``created_utc`` (epoch seconds, what Reddit's API returns) or ``created_local``: a naive
wall-clock time written by the scraper in *its* local zone. ``created_local`` is converted with
``source_timezone``; the default, ``Africa/Casablanca`` (UTC+1 outside Ramadan), is the zone
of the machine that wrote the shared scrape: its project is Moroccan and its news posts line up
with the events in UTC+1 (the 2025-10-10 liquidation post at 22:37 local, 21:37 UTC; the CZ
pardon post on 2025-10-23 at 16:45 local). Files written in another zone must say so.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import pandas as pd

from trading_core.config import SocialConfig
from trading_core.quality.alt_records import Horizon, check_text_length, quarantine_conflicts
from trading_core.samples import ensure_samples
from trading_core.social.credentials import require_env
from trading_core.social.jsonlines import read_lines, replay_files, rows_in_window
from trading_core.social.results import FetchResult, RecordRejected, RejectLog, SourceError
from trading_core.social.sentiment import with_sentiment
from trading_core.social.symbols import detect_symbols
from trading_core.social.times import (
    TimeLike,
    epoch_to_utc,
    local_to_utc,
    utc_window,
    zone,
)
from trading_core.timeframes import utc_now
from trading_core.warehouse import table_columns

ASSET_KEY = "raw/reddit_posts"
REDDIT_COLUMNS: list[str] = table_columns("raw.reddit_posts")
DEFAULT_SOURCE_TIMEZONE = "Africa/Casablanca"
REPLAY_PATTERN = "reddit_*.jsonl"


@runtime_checkable
class RedditSource(Protocol):
    """What every Reddit backend offers."""

    def fetch_posts(
        self, start: TimeLike, end: TimeLike, *, horizon: Horizon | None = None
    ) -> FetchResult:
        """Posts published in ``[start, end)`` (naive UTC), plus the records it rejected
        (including every post it saw dated outside ``horizon``)."""
        ...


@dataclass(frozen=True)
class RedditPost:
    """One post as every backend reads it, before enrichment."""

    post_id: str
    subreddit: str | None
    title: str | None
    selftext: str | None
    url: str | None
    score: int | None
    num_comments: int | None
    author_hash: str | None
    published_at: datetime


def author_pseudonym(name: str | None) -> str | None:
    """``u_`` + the first 12 hex digits of the name's SHA-256; None for deleted authors."""
    if not name:
        return None
    return "u_" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]


# What makes two reads of a post the same post. score and num_comments are counters that move
# as a post ages: reads differing only in them are one post, and the last read (the latest
# replay file, sorted by name) is kept.
CONTENT_FIELDS = ["subreddit", "title", "selftext", "url", "author_hash", "published_at"]


def posts_frame(
    posts: Iterable[RedditPost], *, source: str, ingested_at: datetime, rejects: RejectLog
) -> pd.DataFrame:
    """``raw.reddit_posts`` rows: one per id, in time order, with symbols and sentiment.
    Versions of an id whose content differs go to ``rejects``, all of them, none stored."""
    frame = pd.DataFrame([vars(p) for p in posts], columns=list(RedditPost.__dataclass_fields__))
    frame = frame.drop_duplicates(["post_id", *CONTENT_FIELDS], keep="last")
    frame = quarantine_conflicts(frame, ["post_id"], CONTENT_FIELDS, rejects)
    frame = frame.sort_values(["published_at", "post_id"], kind="stable").reset_index(drop=True)
    texts = [_joined(t, s) for t, s in zip(frame["title"], frame["selftext"], strict=True)]
    frame["symbols"] = [detect_symbols(t) for t in texts]
    frame = with_sentiment(frame, texts)
    frame["source"] = source
    frame["ingested_at"] = ingested_at
    for column in ("score", "num_comments"):
        frame[column] = frame[column].astype("Int32")
    for column in ("published_at", "ingested_at"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    return frame[REDDIT_COLUMNS]


def _joined(title: str | None, body: str | None) -> str:
    return "\n".join(part for part in (title, body) if isinstance(part, str) and part)


def _text(record: dict[str, Any], field: str) -> str | None:
    value = record.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordRejected(f"bad field {field}: expected text, got {type(value).__name__}")
    check_text_length(field, value)
    return value


def _count(record: dict[str, Any], field: str) -> int | None:
    value = record.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RecordRejected(f"bad field {field}: expected a number, got {value!r}")
    return int(value)


def _published_at(record: dict[str, Any], source_zone: ZoneInfo) -> datetime:
    created_utc = record.get("created_utc")
    if created_utc is not None:
        if isinstance(created_utc, bool) or not isinstance(created_utc, int | float):
            raise RecordRejected(
                f"bad field created_utc: expected epoch seconds, got {created_utc!r}"
            )
        return epoch_to_utc(created_utc)
    local = record.get("created_local")
    if local is None:
        raise RecordRejected("missing field: created_local (or created_utc)")
    try:
        parsed = datetime.fromisoformat(str(local))
    except ValueError:
        raise RecordRejected(f"unparseable created_local: {local!r}") from None
    if parsed.tzinfo is not None:
        raise RecordRejected(f"created_local must be a naive local time, got an offset: {local!r}")
    return local_to_utc(parsed, source_zone)


def record_to_post(record: dict[str, Any], source_zone: ZoneInfo) -> RedditPost:
    """One replay record as a post; raises ``ValueError`` naming what is wrong with it."""
    post_id = record.get("post_id")
    if not isinstance(post_id, str) or not post_id.strip():
        raise RecordRejected("missing field: post_id")
    subreddit = _text(record, "subreddit")
    author_hash = _text(record, "author_hash") or author_pseudonym(_text(record, "author"))
    return RedditPost(
        post_id=post_id.strip(),
        subreddit=subreddit.lower() if subreddit else None,
        title=_text(record, "title"),
        selftext=_text(record, "selftext"),
        url=_text(record, "url"),
        score=_count(record, "score"),
        num_comments=_count(record, "num_comments"),
        author_hash=author_hash,
        published_at=_published_at(record, source_zone),
    )


def _public_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record fit for the quarantine payload: the raw user name replaced by its pseudonym."""
    cleaned = dict(record)
    if "author" in cleaned:
        name = cleaned.pop("author")
        cleaned["author_hash"] = author_pseudonym(name if isinstance(name, str) else None)
    return cleaned


class ReplayReddit:
    """Posts from JSON-lines files in the layout of ``../shared/data/social/reddit_*.jsonl``.

    ``path`` is one file or a directory (every ``reddit_*.jsonl`` in it). Files are re-read on
    every fetch, so a replay directory that grows is picked up.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        source_timezone: str = DEFAULT_SOURCE_TIMEZONE,
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
            shown=_public_record,
            horizon=horizon,
        )
        frame = posts_frame(
            posts, source="replay", ingested_at=rejects.ingested_at, rejects=rejects
        )
        return FetchResult(frame, rejects.frame())


def _try_published_at(record: dict[str, Any], source_zone: ZoneInfo) -> datetime | None:
    try:
        return _published_at(record, source_zone)
    except RecordRejected:
        return None


class PrawReddit:
    """Posts from Reddit's API through praw, read-only (application-only OAuth).

    Reads ``/r/<subreddit>/new`` newest first, paging (praw follows ``after``) until a post
    older than ``start`` or ``limit`` posts per subreddit. When ``limit`` runs out first, the
    window's oldest posts are missing: the result says so in ``notes``.
    ``oauth_url``/``reddit_url`` point praw at another endpoint (a local fake in tests).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        user_agent: str,
        subreddits: list[str],
        *,
        limit: int = 200,
        oauth_url: str = "https://oauth.reddit.com",
        reddit_url: str = "https://www.reddit.com",
        timeout: int = 16,  # seconds; praw's config takes whole seconds (it applies int())
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        import praw  # ~0.5 s to import, and only live runs need it

        missing = [
            name
            for name, value in (
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("user_agent", user_agent),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"PrawReddit needs {missing} (from the environment, never code)")
        if not subreddits:
            raise ValueError("PrawReddit needs at least one subreddit")
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self.subreddits = list(subreddits)
        self.limit = limit
        self._clock = clock
        self._reddit = praw.Reddit(
            client_id=client_id,
            client_secret=client_secret,
            user_agent=user_agent,
            check_for_updates=False,
            oauth_url=oauth_url,
            reddit_url=reddit_url,
            timeout=timeout,
        )
        self._reddit.read_only = True

    def fetch_posts(
        self, start: TimeLike, end: TimeLike, *, horizon: Horizon | None = None
    ) -> FetchResult:
        import prawcore  # loaded with praw by __init__; named here for its exceptions

        lo, hi = utc_window(start, end)
        rejects = RejectLog(ASSET_KEY, self._clock())
        posts: list[RedditPost] = []
        notes: list[str] = []
        for name in self.subreddits:
            seen = 0
            reached_start = False
            try:
                for submission in self._reddit.subreddit(name).new(limit=self.limit):
                    seen += 1
                    origin = f"r/{name}/new#{seen}"
                    try:
                        post = submission_to_post(submission)
                    except RecordRejected as exc:
                        rejects.add(str(exc), origin=origin, record=_submission_record(submission))
                        continue
                    stray = horizon.problem("published_at", post.published_at) if horizon else None
                    if stray is not None:
                        rejects.add(stray, origin=origin, record=_submission_record(submission))
                        continue
                    if post.published_at < lo:
                        reached_start = True
                        break
                    if post.published_at < hi:
                        posts.append(post)
            except prawcore.PrawcoreException as exc:
                raise SourceError(f"reddit r/{name}/new: {type(exc).__name__}: {exc}") from exc
            if not reached_start and seen >= self.limit:
                notes.append(
                    f"r/{name}: stopped at the limit of {self.limit} posts before reaching "
                    f"{lo.isoformat()}; older posts of the window were not fetched"
                )
        frame = posts_frame(posts, source="praw", ingested_at=rejects.ingested_at, rejects=rejects)
        return FetchResult(frame, rejects.frame(), tuple(notes))


def submission_to_post(submission: Any) -> RedditPost:
    """A praw ``Submission`` as a post (reads only attributes the listing already carries)."""
    fields = vars(submission)
    post_id = fields.get("id")
    created = fields.get("created_utc")
    if not post_id:
        raise RecordRejected("missing field: id")
    if isinstance(created, bool) or not isinstance(created, int | float):
        raise RecordRejected(f"bad field created_utc: expected epoch seconds, got {created!r}")
    subreddit = fields.get("subreddit")
    author = fields.get("author")
    for field in ("title", "selftext"):
        if isinstance(fields.get(field), str):
            check_text_length(field, fields[field])
    return RedditPost(
        post_id=str(post_id),
        subreddit=str(subreddit).lower() if subreddit is not None else None,
        title=fields.get("title"),
        selftext=fields.get("selftext"),
        url=fields.get("url"),
        score=_count(fields, "score"),
        num_comments=_count(fields, "num_comments"),
        author_hash=author_pseudonym(str(author)) if author is not None else None,
        published_at=epoch_to_utc(created),
    )


def _submission_record(submission: Any) -> dict[str, Any]:
    """The plain fields of a submission for the quarantine payload, author pseudonymised."""
    fields = {
        key: value
        for key, value in vars(submission).items()
        if not key.startswith("_") and isinstance(value, str | int | float | bool | type(None))
    }
    fields.pop("author_fullname", None)
    author = vars(submission).get("author")
    fields["author_hash"] = author_pseudonym(str(author)) if author is not None else None
    fields["subreddit"] = str(vars(submission).get("subreddit"))
    return fields


DEFAULT_USER_AGENT = "trading-pipelines/0.1 (read-only research)"


def reddit_source_from_config(
    config: SocialConfig,
    *,
    samples_root: Path | str,
    source_timezone: str = DEFAULT_SOURCE_TIMEZONE,
    environ: Mapping[str, str] | None = None,
) -> RedditSource:
    """The backend ``config.source`` selects.

    ``live``: :class:`PrawReddit` on ``config.subreddits`` with ``REDDIT_CLIENT_ID`` and
    ``REDDIT_CLIENT_SECRET`` (and optionally ``REDDIT_USER_AGENT``) from the environment.
    ``replay``: :class:`ReplayReddit` on ``config.replay_dir`` read in ``source_timezone``, or,
    when it is unset, on the embedded sample (re)written under ``samples_root``.
    """
    env = os.environ if environ is None else environ
    if config.source == "live":
        return PrawReddit(
            client_id=require_env(env, "REDDIT_CLIENT_ID", "social.source=live (Reddit)"),
            client_secret=require_env(env, "REDDIT_CLIENT_SECRET", "social.source=live (Reddit)"),
            user_agent=env.get("REDDIT_USER_AGENT") or DEFAULT_USER_AGENT,
            subreddits=config.subreddits,
            limit=config.max_items,
        )
    if config.replay_dir is not None:
        return ReplayReddit(config.replay_dir, source_timezone=source_timezone)
    samples = ensure_samples(samples_root)
    return ReplayReddit(samples.social_dir, source_timezone=samples.reddit_timezone)
