"""The ccxt broker's client and how it calls it: reads retried, markets loaded once.

``CcxtCalls`` holds the client, the fees and the retry policy; ``_read`` is a call that is
safe to repeat (retried on network errors and rate limits, honouring Retry-After), failing
as ``BrokerUnavailable`` when the retries run out. The broker's other rooms build on it:
``ccxt_keys`` (key checks), ``ccxt_fills`` (translation), ``ccxt_account`` (account reads).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import ccxt

from executor.brokers.base import BrokerUnavailable
from trading_core.config import FeesConfig
from trading_core.retry import RetryError, RetryPolicy, call_with_retries, is_retryable

log = logging.getLogger("executor.ccxt")

T = TypeVar("T")


def error_reason(exc: BaseException) -> str:
    """The error's type and message, at most 500 characters (an order's or a log's reason)."""
    return f"{type(exc).__name__}: {exc}"[:500]


class CcxtCalls:
    """The client and its calls, shared by every part of the ccxt broker."""

    def __init__(
        self,
        client: ccxt.Exchange,
        *,
        fees: FeesConfig,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.exchange = client.id
        self.fees = fees
        self.retry = retry or RetryPolicy(max_attempts=5, base_delay=0.25, max_delay=5.0)
        self._sleep = sleep
        self._markets_loaded = False
        self._fee_prices: dict[str, tuple[float, float | None]] = {}

    def _retry_after(self, exc: BaseException) -> float | None:
        """The wait a rate-limited answer asked for (its Retry-After header), if any."""
        headers = getattr(self.client, "last_response_headers", None) or {}
        value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    def _read(
        self,
        what: str,
        fn: Callable[[], T],
        retry_on: Callable[[BaseException], bool] = is_retryable,
    ) -> T:
        """A call that is safe to repeat: retried on network errors and rate limits."""
        try:
            return call_with_retries(
                fn,
                self.retry,
                retry_on=retry_on,
                sleep=self._sleep,
                min_delay=self._retry_after,
                describe=f"{self.exchange} {what}",
            )
        except (RetryError, ccxt.BadResponse) as exc:
            raise BrokerUnavailable(f"{self.exchange} {what}: {error_reason(exc)}") from exc

    def _ensure_markets(self) -> None:
        if not self._markets_loaded:
            self._read("load_markets", self.client.load_markets)
            self._markets_loaded = True
