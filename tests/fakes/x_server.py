"""A fake of X's ``GET /2/tweets/search/recent`` on 127.0.0.1, as tweepy.Client calls it.

Bearer-token auth, ``start_time``/``end_time`` filtering, newest-first pages of
``max_results`` linked by ``next_token``, and optional HTTP 429 answers carrying
``x-rate-limit-reset`` (epoch seconds) before serving a page.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from tests.fakes.http_json_server import FakeHTTPServer, Reply, Request

SEARCH_PATH = "/2/tweets/search/recent"


def tweet(tweet_id: str, created_at: datetime, text: str) -> dict[str, Any]:
    """A post as the v2 API returns it with ``tweet.fields=created_at`` (naive = UTC)."""
    stamp = created_at.replace(tzinfo=UTC) if created_at.tzinfo is None else created_at
    iso = stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {"id": tweet_id, "text": text, "created_at": iso, "edit_history_tweet_ids": [tweet_id]}


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class FakeX(FakeHTTPServer):
    """Serves ``tweets``; the first ``rate_limited`` search calls answer 429."""

    def __init__(
        self,
        tweets: list[dict[str, Any]],
        *,
        bearer_token: str = "fake-bearer",
        rate_limited: int = 0,
        reset_in: float = 0.0,
    ) -> None:
        super().__init__()
        self.bearer_token = bearer_token
        self.rate_limited = rate_limited
        self.reset_in = reset_in
        self.tweets = sorted(tweets, key=lambda t: t["created_at"], reverse=True)
        self.route("GET", SEARCH_PATH, self._search)

    def _search(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.bearer_token}":
            return Reply.json({"title": "Unauthorized", "status": 401}, 401)
        if self.rate_limited > 0:
            self.rate_limited -= 1
            reset = int(time.time() + self.reset_in)
            return Reply.json(
                {"title": "Too Many Requests", "status": 429},
                429,
                {"x-rate-limit-reset": str(reset), "x-rate-limit-remaining": "0"},
            )
        if not request.query.get("query"):
            return Reply.json({"title": "Invalid Request", "detail": "query missing"}, 400)
        lo = _parse(request.query["start_time"]) if "start_time" in request.query else None
        hi = _parse(request.query["end_time"]) if "end_time" in request.query else None
        matching = [
            t
            for t in self.tweets
            if (lo is None or _parse(t["created_at"]) >= lo)
            and (hi is None or _parse(t["created_at"]) < hi)
        ]
        size = int(request.query.get("max_results", 10))
        first = int(request.query.get("next_token", "page-0").removeprefix("page-"))
        page = matching[first : first + size]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta |= {"newest_id": page[0]["id"], "oldest_id": page[-1]["id"]}
        if first + size < len(matching):
            meta["next_token"] = f"page-{first + size}"
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = page
        return Reply.json(body)

    def search_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == SEARCH_PATH]
