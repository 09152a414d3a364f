"""Retries with exponential backoff and full jitter, for calls to exchanges and other services.

Generic on purpose: market-data fetches and the executor's order calls share it. What is worth
retrying is decided by ``retry_on`` (default :func:`is_retryable`: ccxt's transient network
errors). For order placement, retry only calls made idempotent by a client order id: a timed-out
request may have reached the exchange.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` calls at most; before retry ``n`` (0-based) wait up to
    ``min(max_delay, base_delay * 2**n)`` seconds, uniformly drawn when ``jitter`` ("full
    jitter", so many clients never retry in lockstep)."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay < 0:
            raise ValueError(f"RetryPolicy.base_delay must be >= 0 seconds, got {self.base_delay}")
        if self.max_delay < self.base_delay:
            raise ValueError(
                f"RetryPolicy.max_delay must be >= base_delay ({self.base_delay}), "
                f"got {self.max_delay}"
            )

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (0 = the first retry)."""
        cap = min(self.max_delay, self.base_delay * 2.0**retry)
        return rng.uniform(0.0, cap) if self.jitter else cap


class RetryError(RuntimeError):
    """Every attempt failed with a retryable error; ``last`` is the final one."""

    def __init__(self, attempts: int, last: BaseException) -> None:
        super().__init__(
            f"gave up after {attempts} attempts; last error: {type(last).__name__}: {last}"
        )
        self.attempts = attempts
        self.last = last


def is_retryable(exc: BaseException) -> bool:
    """Transient failures: ccxt's ``NetworkError`` family (``RequestTimeout``,
    ``RateLimitExceeded``, ``DDoSProtection``, ``ExchangeNotAvailable``/``OnMaintenance``,
    ``InvalidNonce``) and the builtin ``ConnectionError``/``TimeoutError``. Any other ccxt error
    (``BadSymbol``, ``AuthenticationError``, ``PermissionDenied``, ``BadRequest``,
    ``InsufficientFunds``, ...) will fail the same way again."""
    import ccxt

    if isinstance(exc, ccxt.BaseError):
        return isinstance(exc, ccxt.NetworkError)
    return isinstance(exc, ConnectionError | TimeoutError)


def call_with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy | None = None,
    *,
    retry_on: Callable[[BaseException], bool] = is_retryable,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    min_delay: Callable[[BaseException], float | None] | None = None,
    describe: str = "call",
) -> T:
    """``fn()``, retried under ``policy`` while ``retry_on(error)`` holds.

    A non-retryable error propagates at once, unchanged. When attempts run out,
    :class:`RetryError` is raised from the last error. ``min_delay(error)`` may raise the wait
    to what the server asked for (a ``Retry-After``), still capped by ``policy.max_delay``.
    ``sleep`` and ``rng`` are injectable so tests run instantly and deterministically.
    """
    policy = policy or RetryPolicy()
    rng = rng or random.Random()
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not retry_on(exc):
                raise
            if attempt == policy.max_attempts:
                raise RetryError(attempt, exc) from exc
            wait = policy.delay(attempt - 1, rng)
            asked = min_delay(exc) if min_delay is not None else None
            if asked is not None:
                wait = min(policy.max_delay, max(wait, asked))
            log.warning(
                "%s failed (attempt %d/%d): %s: %s; retrying in %.2fs",
                describe,
                attempt,
                policy.max_attempts,
                type(exc).__name__,
                exc,
                wait,
            )
            sleep(wait)
    raise AssertionError("unreachable: the loop returns or raises")
