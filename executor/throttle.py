"""Order-rate throttle: at most N order submissions per second and M per minute on one
exchange, kept below the exchange's published limits (Binance spot: 50 orders per 10 s,
i.e. 5 per second sustained, and 160,000 per day).

An entry that would break a limit is delayed, not rejected: its intent stays NEW and the next
tick takes it (its age keeps counting, so a long delay ends as EXPIRED, never as a late
fill). Exits are never delayed; they count towards the limits, so entries wait behind them.
Pure and clock-injected: the engine passes the time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)


@dataclass
class OrderThrottle:
    per_second: int = 5
    per_minute: int = 100
    _sent: deque[datetime] = field(default_factory=deque, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.per_second < 1 or self.per_minute < 1:
            raise ValueError(
                f"order rate limits must be >= 1, got {self.per_second}/s, {self.per_minute}/min"
            )

    def _forget(self, now: datetime) -> None:
        while self._sent and now - self._sent[0] >= MINUTE:
            self._sent.popleft()

    def ready(self, now: datetime) -> bool:
        """Whether one more submission now stays within both limits."""
        self._forget(now)
        last_second = sum(1 for t in self._sent if now - t < SECOND)
        return last_second < self.per_second and len(self._sent) < self.per_minute

    def record(self, now: datetime) -> None:
        """One submission went out (entries and exits alike)."""
        self._forget(now)
        self._sent.append(now)

    def why_not(self, now: datetime) -> str:
        return (
            f"order rate limit: {self.per_second} per second and {self.per_minute} per minute "
            "reached; delayed to the next tick"
        )
