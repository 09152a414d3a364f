"""The cockpit's guards: the write token, the Host allow-list and a rate limit per client.

- Writes need the token from ``TRADING_COCKPIT_TOKEN`` (or the file named by
  ``TRADING_COCKPIT_TOKEN_FILE``), sent as ``Authorization: Bearer <token>`` or
  ``X-Trading-Token: <token>``. With no token configured the cockpit is read-only: every
  write is refused with 403. A missing token is 401, a wrong one 403; the comparison takes
  the same time whatever the guess.
- A request whose ``Host`` header is not in ``cockpit.allowed_hosts`` gets 400: a page on
  an attacker's domain that rebinds its name to 127.0.0.1 cannot read or write.
- Each client address has a token bucket; an empty bucket is 429 with ``Retry-After``.
"""

from __future__ import annotations

import hmac
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from executor.secrets import SecretError, read_secret

TOKEN_ENV = "TRADING_COCKPIT_TOKEN"
TOKEN_HEADER = "x-trading-token"


class WriteRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class WriteToken:
    value: str | None = field(default=None, repr=False)

    @property
    def configured(self) -> bool:
        return self.value is not None

    def check(self, authorization: str | None, header_token: str | None) -> None:
        """Raise ``WriteRefused`` unless the request carries the configured token."""
        if self.value is None:
            raise WriteRefused(
                403, f"the cockpit is read-only: no {TOKEN_ENV} is configured for writes"
            )
        sent = header_token
        if sent is None and authorization:
            scheme, _, credentials = authorization.partition(" ")
            if scheme.lower() != "bearer" or not credentials.strip():
                raise WriteRefused(401, "Authorization must be 'Bearer <token>'")
            sent = credentials.strip()
        if not sent:
            raise WriteRefused(
                401, "a write needs the token: Authorization: Bearer <token> or X-Trading-Token"
            )
        if not hmac.compare_digest(sent.encode(), self.value.encode()):
            raise WriteRefused(403, "wrong token")


def load_write_token(environ: dict[str, str] | os._Environ[str] | None = None) -> WriteToken:
    """The write token from the environment or its file; none set: read-only."""
    env = os.environ if environ is None else environ
    return WriteToken(read_secret(TOKEN_ENV, env))


def host_allowed(host_header: str | None, allowed: list[str]) -> bool:
    """Whether the Host header (port stripped, IPv6 brackets kept apart) is allowed."""
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):
        name = host[1 : host.find("]")] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in allowed or f"[{name}]" in allowed


class RateLimiter:
    """A token bucket per client: ``burst`` requests at once, refilled at ``rate`` per
    second. At most ``max_clients`` buckets are kept (the fullest are forgotten first)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ):
        if not rate > 0 or burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1 (got {rate}, {burst})")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, client: str) -> float:
        """0.0 if ``client`` may go ahead now, else the seconds until it may."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[client] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            if len(self._buckets) > self.max_clients:
                self._forget_idle(now)
        return wait

    def _forget_idle(self, now: float) -> None:
        full = [
            c
            for c, (t, last) in self._buckets.items()
            if t + (now - last) * self.rate >= self.burst
        ]
        for client in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[client]


__all__ = [
    "RateLimiter",
    "SecretError",
    "WriteRefused",
    "WriteToken",
    "host_allowed",
    "load_write_token",
]
