"""ccxt backend: candles, order books and trades from any ccxt exchange, fetched the way a
production system must.

Candles (``fetch_ohlcv_report``; ``fetch_ohlcv`` returns just its frame):

- paginated ``fetch_ohlcv(since, limit)`` from ``start`` until ``end`` (or until the exchange
  has nothing newer), de-duplicated by ``ts`` with the newest version winning (exchanges
  correct late data, and an overlapping page carries the correction);
- the still-open candle is dropped: only ``ts + timeframe <= now``, ``now`` from the exchange
  clock (``fetch_time``) when the exchange has one, else the local clock;
- gaps are detected and each gap window is re-requested once (at most ``max_gap_requests``
  of them); what stays missing is a real gap and is reported in ``OhlcvFetch.gaps``;
- every call is retried with exponential backoff and full jitter on transient errors
  (``trading_core.retry``); a permanent error (``BadSymbol``, ``AuthenticationError``,
  ``PermissionDenied``, ``BadRequest``, ...) or exhausted retries raise ``MarketDataError``
  naming the exchange, symbol, timeframe and window. A window is never returned partially.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import ccxt
import numpy as np
import pandas as pd

from trading_core.exchanges import create_exchange
from trading_core.market.base import (
    OHLCV_COLUMNS,
    TRADE_COLUMNS,
    MarketDataError,
    OrderBook,
    empty_ohlcv,
)
from trading_core.market.ingest import Gap, find_gaps
from trading_core.retry import RetryError, RetryPolicy, call_with_retries
from trading_core.timeframes import naive_utc, utc_now

T = TypeVar("T")

_CALENDAR_UNITS = ("M", "y")  # months and years have no fixed length


@dataclass(frozen=True)
class OhlcvFetch:
    """One fetched window: the candles and what is known to be missing from it."""

    frame: pd.DataFrame  # closed candles in [start, end), sorted, unique ts
    gaps: list[Gap]  # candles still missing after re-requesting each gap window
    requests: int  # fetch_ohlcv calls that succeeded (pages and gap re-requests)
    gap_requests: int  # of which gap re-requests
    now: datetime  # the clock the closed-candle rule used

    @property
    def missing(self) -> int:
        return sum(gap.missing for gap in self.gaps)


def _ms(moment: datetime) -> int:
    return int(naive_utc(moment).replace(tzinfo=UTC).timestamp() * 1000)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def _retry_after(client: ccxt.Exchange) -> Callable[[BaseException], float | None]:
    """The server's ``Retry-After`` (seconds) for rate-limit answers (429/418)."""

    def hint(exc: BaseException) -> float | None:
        if not isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
            return None
        headers = client.last_response_headers or {}
        value = headers.get("Retry-After") or headers.get("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    return hint


@dataclass
class CcxtMarket:
    """Market data from ccxt exchanges (implements ``MarketSource``).

    ``clients`` are ready ccxt clients by exchange id (tests pass one pointed at a local fake);
    other ids are created on first use with ``client_factory`` (default
    :func:`trading_core.exchanges.create_exchange`). ``sleep`` is injectable for tests.
    """

    clients: dict[str, ccxt.Exchange] = field(default_factory=dict)
    client_factory: Callable[[str], ccxt.Exchange] = create_exchange
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    page_limit: int = 1000  # candles per request (Binance's maximum)
    max_gap_requests: int = 10  # gap windows re-requested per fetch
    use_exchange_clock: bool = True
    trade_window: timedelta = timedelta(hours=1)  # Binance caps aggTrades windows at 1h
    name: str = field(default="ccxt", init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.page_limit < 1:
            raise ValueError(f"page_limit must be >= 1, got {self.page_limit}")
        if self.max_gap_requests < 0:
            raise ValueError(f"max_gap_requests must be >= 0, got {self.max_gap_requests}")

    # -- plumbing ----------------------------------------------------------------------

    def client(self, exchange: str) -> ccxt.Exchange:
        with self._lock:
            if exchange not in self.clients:
                self.clients[exchange] = self.client_factory(exchange)
            return self.clients[exchange]

    def _call(self, exchange: str, context: str, fn: Callable[[], T]) -> T:
        """``fn()`` with retries; every failure becomes a ``MarketDataError`` naming
        ``context`` (exchange, symbol, timeframe, window)."""
        client = self.client(exchange)
        try:
            return call_with_retries(
                fn,
                self.policy,
                sleep=self.sleep,
                min_delay=_retry_after(client),
                describe=context,
            )
        except RetryError as exc:
            raise MarketDataError(f"{context}: {exc}") from exc
        except ccxt.BaseError as exc:
            raise MarketDataError(f"{context}: {type(exc).__name__}: {exc}") from exc

    def _timeframe_ms(self, exchange: str, timeframe: str, context: str) -> int:
        offered = self.client(exchange).timeframes or {}
        if timeframe not in offered:
            raise MarketDataError(
                f"{context}: {exchange} does not offer timeframe {timeframe!r}; "
                f"allowed: {list(offered)}"
            )
        if timeframe[-1] in _CALENDAR_UNITS:
            raise MarketDataError(
                f"{context}: calendar timeframe {timeframe!r} has no fixed length; "
                "use a fixed one (minutes, hours, days, weeks)"
            )
        return int(ccxt.Exchange.parse_timeframe(timeframe) * 1000)

    def _now_ms(self, exchange: str, context: str) -> int:
        client = self.client(exchange)
        if self.use_exchange_clock and client.has.get("fetchTime"):
            return int(self._call(exchange, f"{context} (fetch_time)", client.fetch_time))
        return _ms(utc_now())

    # -- candles -------------------------------------------------------------------------

    def fetch_ohlcv(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start: datetime,
        end: datetime,
        now: datetime | None = None,
    ) -> pd.DataFrame:
        """Closed candles with open time in ``[start, end)``, sorted (see the module doc)."""
        return self.fetch_ohlcv_report(exchange, symbol, timeframe, start, end, now).frame

    def fetch_ohlcv_report(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start: datetime,
        end: datetime,
        now: datetime | None = None,
    ) -> OhlcvFetch:
        """The candles of ``[start, end)`` closed at ``now`` (the exchange clock when None),
        and the real gaps left after re-requesting each gap window."""
        context = f"{exchange} {symbol} {timeframe} [{naive_utc(start)}, {naive_utc(end)})"
        step = self._timeframe_ms(exchange, timeframe, context)
        start_ms, end_ms = _ms(start), _ms(end)
        now_ms = _ms(now) if now is not None else self._now_ms(exchange, context)
        client = self.client(exchange)
        rows: dict[int, list[Any]] = {}
        requests = 0

        def page(since: int, limit: int) -> list[list[Any]]:
            nonlocal requests
            got = self._call(
                exchange,
                context,
                lambda: client.fetch_ohlcv(symbol, timeframe, since=since, limit=limit),
            )
            requests += 1
            # Later answers overwrite earlier ones: the newest version of a candle wins.
            for row in got:
                if since <= row[0] < end_ms and row[0] + step <= now_ms:
                    rows[int(row[0])] = row
            return got

        cursor = start_ms
        while cursor < end_ms and cursor + step <= now_ms:
            got = page(cursor, self.page_limit)
            if got:
                following = int(got[-1][0]) + step
                if following <= cursor:
                    raise MarketDataError(f"{context}: the exchange went back in time")
                cursor = following
            else:
                # Nothing in this page's span. Some exchanges only answer within
                # [since, since + limit * timeframe]: step over the span rather than stop.
                cursor += self.page_limit * step

        closed_end = min(end_ms, now_ms - step + 1)  # exclusive bound on closed open times
        gaps = self._gaps(rows, step, start_ms, closed_end)
        gap_requests = 0
        for gap in gaps[: self.max_gap_requests]:
            page(_ms(gap.start), min(gap.missing, self.page_limit))
            gap_requests += 1
        if gap_requests:
            gaps = self._gaps(rows, step, start_ms, closed_end)
        return OhlcvFetch(
            frame=_ohlcv_frame(exchange, symbol, timeframe, rows),
            gaps=gaps,
            requests=requests,
            gap_requests=gap_requests,
            now=_from_ms(now_ms),
        )

    @staticmethod
    def _gaps(rows: dict[int, list[Any]], step: int, start_ms: int, end_ms: int) -> list[Gap]:
        if end_ms <= start_ms:
            return []
        times = np.array(sorted(rows), dtype="datetime64[ms]")
        return find_gaps(
            times, timedelta(milliseconds=step), start=_from_ms(start_ms), end=_from_ms(end_ms)
        )

    # -- order books, trades, time -------------------------------------------------------

    def fetch_order_book(
        self, exchange: str, symbol: str, depth: int, at: datetime | None = None
    ) -> OrderBook:
        """The exchange's current top-``depth`` book. A live exchange can only snapshot the
        present: ``at`` must be None or within a minute of now."""
        context = f"{exchange} {symbol} order book"
        if at is not None and abs(naive_utc(at) - utc_now()) > timedelta(minutes=1):
            raise MarketDataError(f"{context}: ccxt cannot snapshot the past ({at})")
        client = self.client(exchange)
        book = self._call(exchange, context, lambda: client.fetch_order_book(symbol, depth))
        stamp = book.get("timestamp")
        return OrderBook(
            exchange=exchange,
            symbol=symbol,
            ts=_from_ms(stamp) if stamp else utc_now(),
            bids=[(float(p), float(a)) for p, a, *_ in book["bids"][:depth]],
            asks=[(float(p), float(a)) for p, a, *_ in book["asks"][:depth]],
            source=self.name,
        )

    def fetch_trades(
        self,
        exchange: str,
        symbol: str,
        start: datetime,
        end: datetime,
        now: datetime | None = None,
    ) -> pd.DataFrame:
        """Public trades with ``ts`` in ``[start, end)`` (and before ``now``), paginated by
        time windows of ``trade_window`` (ccxt's ``until``), de-duplicated by trade id."""
        context = f"{exchange} {symbol} trades [{naive_utc(start)}, {naive_utc(end)})"
        client = self.client(exchange)
        end_ms = _ms(end) if now is None else min(_ms(end), _ms(now))
        window_ms = int(self.trade_window.total_seconds() * 1000)
        page_size = 1000
        trades: dict[str, dict[str, Any]] = {}
        cursor = _ms(start)
        while cursor < end_ms:
            until = min(end_ms, cursor + window_ms) - 1  # inclusive, as ccxt's ``until``

            def fetch_page(since: int = cursor, until: int = until) -> list[dict[str, Any]]:
                return client.fetch_trades(
                    symbol, since=since, limit=page_size, params={"until": until}
                )

            got = self._call(exchange, context, fetch_page)
            inside = [t for t in got if cursor <= t["timestamp"] <= until]
            trades.update((str(t["id"]), t) for t in inside)
            if len(got) < page_size:
                cursor = until + 1  # the window is complete
                continue
            # A full page may end inside a millisecond: resume at its last trade's time (the
            # repeats are de-duplicated by id).
            last = max(t["timestamp"] for t in got)
            if last <= cursor:
                raise MarketDataError(
                    f"{context}: more than {page_size} trades at {_from_ms(cursor)}; "
                    "cannot page through them by time"
                )
            cursor = last
        return _trade_frame(exchange, symbol, trades.values())

    def fetch_funding_rates(
        self, exchange: str, symbol: str, start: datetime, end: datetime,
        now: datetime | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """Funding rates of ``symbol``'s perpetual (``trading_core.market.funding_ccxt``)."""
        from trading_core.market.funding_ccxt import fetch_funding_rates

        return fetch_funding_rates(self, exchange, symbol, start, end, now)

    def fetch_open_interest(
        self, exchange: str, symbol: str, start: datetime, end: datetime,
        now: datetime | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """Hourly open interest of ``symbol``'s perpetual (``funding_ccxt``)."""
        from trading_core.market.funding_ccxt import fetch_open_interest

        return fetch_open_interest(self, exchange, symbol, start, end, now)

    def fetch_time(self, exchange: str) -> datetime:
        """The exchange clock (naive UTC)."""
        client = self.client(exchange)
        return _from_ms(int(self._call(exchange, f"{exchange} fetch_time", client.fetch_time)))


def _ohlcv_frame(
    exchange: str, symbol: str, timeframe: str, rows: Mapping[int, list[Any]]
) -> pd.DataFrame:
    if not rows:
        return empty_ohlcv()
    ordered = [rows[k] for k in sorted(rows)]
    values = np.array([r[1:6] for r in ordered], dtype="float64")
    n = len(ordered)
    return pd.DataFrame(
        {
            "exchange": [exchange] * n,
            "symbol": [symbol] * n,
            "timeframe": [timeframe] * n,
            "ts": np.array(sorted(rows), dtype="datetime64[ms]").astype("datetime64[us]"),
            "open": values[:, 0],
            "high": values[:, 1],
            "low": values[:, 2],
            "close": values[:, 3],
            "volume": values[:, 4],
        },
        columns=OHLCV_COLUMNS,
    )


def _trade_frame(exchange: str, symbol: str, trades: Any) -> pd.DataFrame:
    ordered = sorted(trades, key=lambda t: (t["timestamp"], str(t["id"])))
    return pd.DataFrame(
        {
            "exchange": [exchange] * len(ordered),
            "symbol": [symbol] * len(ordered),
            "ts": np.array([t["timestamp"] for t in ordered], dtype="datetime64[ms]").astype(
                "datetime64[us]"
            ),
            "trade_id": [str(t["id"]) for t in ordered],
            "side": [t["side"] for t in ordered],
            "price": np.array([t["price"] for t in ordered], dtype="float64"),
            "amount": np.array([t["amount"] for t in ordered], dtype="float64"),
        },
        columns=TRADE_COLUMNS,
    )
