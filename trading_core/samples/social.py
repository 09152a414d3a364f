"""Synthetic Reddit posts and tweets for one day, in the replay layouts.

Reddit records follow ``../shared/data/social/reddit_*.jsonl`` (``created_local`` written in
:data:`SAMPLE_TIMEZONE`); tweets follow ``tweets_*.jsonl`` (``created_at`` naive UTC).
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from typing import Any

from trading_core.samples.compose import day_times, fill, pick_asset
from trading_core.samples.seeding import day_rng, mood, tone
from trading_core.samples.text import POST_BODIES, POST_TITLES, TWEETS

SAMPLE_TIMEZONE = "UTC"
HOME_SUBREDDIT = {"BTC": "bitcoin", "ETH": "ethereum", "SOL": "solana"}
POSTS_PER_DAY = 12
TWEETS_PER_DAY = 24


def _base36(number: int, width: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    for _ in range(width):
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out


def reddit_records(seed: int, day: date) -> list[dict[str, Any]]:
    """The day's posts (all 24 hours), oldest first, as replay-layout records."""
    rng = day_rng(seed, "reddit", day)
    records = []
    for index, created in enumerate(day_times(rng, day, int(rng.poisson(POSTS_PER_DAY)))):
        asset = pick_asset(rng)
        kind = tone(rng, mood(seed, asset, day))
        title = fill(POST_TITLES[kind][rng.integers(len(POST_TITLES[kind]))], rng, asset, day)
        body = fill(POST_BODIES[kind][rng.integers(len(POST_BODIES[kind]))], rng, asset, day)
        home = HOME_SUBREDDIT.get(asset, "cryptocurrency")
        subreddit = home if rng.random() < 0.6 else "cryptocurrency"
        key = hashlib.sha256(f"{seed}:{day.isoformat()}:{index}".encode()).digest()
        post_id = "s" + _base36(int.from_bytes(key[:8], "big"), 6)
        slug = "_".join(re.sub(r"[^a-z0-9 ]", "", title.lower()).split()[:6])
        permalink = f"https://reddit.com/r/{subreddit}/comments/{post_id}/{slug}/"
        records.append(
            {
                "subreddit": subreddit,
                "post_id": post_id,
                "title": title,
                "score": int(rng.lognormal(3, 1.5)),
                "upvote_ratio": round(float(rng.uniform(0.6, 0.99)), 2),
                "num_comments": int(rng.lognormal(2, 1.2)),
                "url": permalink,
                "permalink": permalink,
                "selftext": body,
                "link_flair_text": None,
                "is_self": bool(body),
                "distinguished": None,
                "stickied": False,
                "created_local": created.isoformat(),
                "author_hash": "u_" + hashlib.sha256(key[8:16]).hexdigest()[:12],
            }
        )
    return records


def tweet_records(seed: int, day: date) -> list[dict[str, Any]]:
    """The day's tweets (all 24 hours), oldest first, as replay-layout records."""
    rng = day_rng(seed, "x", day)
    records = []
    for created in day_times(rng, day, int(rng.poisson(TWEETS_PER_DAY))):
        asset = pick_asset(rng)
        kind = tone(rng, mood(seed, asset, day))
        text = fill(TWEETS[kind][rng.integers(len(TWEETS[kind]))], rng, asset, day)
        records.append({"created_at": created.isoformat(), "text": text})
    return records
