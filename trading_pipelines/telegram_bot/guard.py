"""Who the bot answers and how often: the allow-list, a per-chat rate limit, and the
confirmation codes that destructive commands wait for. Pure state with an injected clock."""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds for each key (a chat id)."""

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ):
        if limit < 1 or window <= 0:
            raise ValueError(f"limit must be >= 1 and window > 0 (got {limit}, {window})")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[int, deque[float]] = {}

    def allow(self, key: int) -> tuple[bool, float]:
        """(True, 0) and count the event, or (False, seconds until one is allowed again)."""
        now = self._clock()
        events = self._events.setdefault(key, deque())
        while events and now - events[0] >= self.window:
            events.popleft()
        if len(events) >= self.limit:
            return False, self.window - (now - events[0])
        events.append(now)
        return True, 0.0


@dataclass(frozen=True)
class Pending:
    code: str
    command: str  # the ledger's operator command: pause, close-all, set-risk, blacklist, ...
    symbol: str | None
    why: str
    who: str
    expires_at: float
    # an override's arguments (executor.override_ledger.issue: scale, duration, instance...)
    params: dict[str, Any] = field(default_factory=dict)


class Confirmations:
    """Destructive commands wait here for ``/confirm CODE`` (or the inline button) from the
    same chat within ``ttl`` seconds. A code works once."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._pending: dict[int, dict[str, Pending]] = {}

    def ask(
        self,
        chat_id: int,
        command: str,
        symbol: str | None,
        why: str,
        who: str,
        params: dict[str, Any] | None = None,
    ) -> Pending:
        self._drop_expired(chat_id)
        code = f"{secrets.randbelow(900_000) + 100_000}"
        pending = Pending(code, command, symbol, why, who, self._clock() + self.ttl,
                          dict(params or {}))  # fmt: skip
        self._pending.setdefault(chat_id, {})[code] = pending
        return pending

    def take(self, chat_id: int, code: str) -> Pending | str:
        """The pending command for ``code`` (removed), or why there is none."""
        entry = self._pending.get(chat_id, {}).pop(code.strip(), None)
        if entry is None:
            return f"no pending command with code {code.strip()[:12]!r} in this chat"
        if self._clock() > entry.expires_at:
            return f"code {entry.code} expired after {self.ttl:g} s; send the command again"
        return entry

    def cancel(self, chat_id: int, code: str) -> bool:
        return self._pending.get(chat_id, {}).pop(code.strip(), None) is not None

    def _drop_expired(self, chat_id: int) -> None:
        now = self._clock()
        waiting = self._pending.get(chat_id, {})
        for code in [c for c, p in waiting.items() if now > p.expires_at]:
            del waiting[code]
