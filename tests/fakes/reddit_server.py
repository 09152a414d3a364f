"""A fake of the Reddit API parts praw uses for read-only listings, on 127.0.0.1.

- ``POST /api/v1/access_token``: application-only OAuth (``grant_type=client_credentials``,
  HTTP basic auth with the app's id and secret) -> a bearer token;
- ``GET /r/<name>/new``: the subreddit's posts newest first, ``limit`` per page (max 100),
  paged with ``after=<fullname>``; requires the bearer token.
Point praw at it with ``oauth_url=fake.url, reddit_url=fake.url``.
"""

from __future__ import annotations

import base64
from typing import Any

from tests.fakes.http_json_server import FakeHTTPServer, Reply, Request

TOKEN = "fake-reddit-token"


def submission(
    post_id: str,
    subreddit: str,
    created_utc: float,
    title: str,
    *,
    selftext: str = "",
    author: str | None = "satoshi_fan",
    score: int = 1,
    num_comments: int = 0,
) -> dict[str, Any]:
    """A post as Reddit's listing returns it (``data`` of a ``t3`` child)."""
    return {
        "id": post_id,
        "name": f"t3_{post_id}",
        "subreddit": subreddit,
        "title": title,
        "selftext": selftext,
        "url": f"https://www.reddit.com/r/{subreddit}/comments/{post_id}/",
        "permalink": f"/r/{subreddit}/comments/{post_id}/",
        "score": score,
        "num_comments": num_comments,
        "author": author,
        "created_utc": created_utc,
    }


class FakeReddit(FakeHTTPServer):
    """Serves ``posts`` (subreddit -> submission dicts in listing order, newest first)."""

    def __init__(
        self,
        posts: dict[str, list[dict[str, Any]]],
        *,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.route("POST", "/api/v1/access_token", self._token)
        for name, items in posts.items():
            self.route("GET", f"/r/{name}/new", self._listing(list(items)))

    def _token(self, request: Request) -> Reply:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return Reply.json({"error": "invalid_client"}, 401)
        if request.form().get("grant_type") != "client_credentials":
            return Reply.json({"error": "unsupported_grant_type"}, 400)
        return Reply.json(
            {"access_token": TOKEN, "token_type": "bearer", "expires_in": 86400, "scope": "*"}
        )

    def _listing(self, items: list[dict[str, Any]]):
        def serve(request: Request) -> Reply:
            if request.headers.get("authorization") != f"bearer {TOKEN}":
                return Reply.json({"message": "Unauthorized", "error": 401}, 401)
            limit = min(int(request.query.get("limit", 25)), 100)
            after = request.query.get("after")
            names = [p["name"] for p in items]
            first = names.index(after) + 1 if after in names else 0
            page = items[first : first + limit]
            more = first + limit < len(items)
            return Reply.json(
                {
                    "kind": "Listing",
                    "data": {
                        "after": page[-1]["name"] if page and more else None,
                        "before": None,
                        "dist": len(page),
                        "children": [{"kind": "t3", "data": p} for p in page],
                    },
                }
            )

        return serve

    def listing_requests(self, name: str) -> list[Request]:
        return [r for r in self.requests if r.path == f"/r/{name}/new"]
