"""Small deterministic stand-ins for the executor's tests: a clock and a market you steer."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pandas as pd

from executor.intents import OrderIntent, make_intent_id
from executor.orders import OrderState
from executor.records import OrderRecord
from trading_core.market.base import OHLCV_COLUMNS, OrderBook, empty_ohlcv
from trading_core.timeframes import timeframe_delta

T0 = datetime(2025, 3, 3, 12, 0)


class Clock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime = T0):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class StubMarket:
    """A MarketSource whose books and 1m candles the test sets; closed candles only."""

    name = "stub"

    def __init__(self, clock: Clock, exchange: str = "sim"):
        self.clock = clock
        self.exchange = exchange
        self.books: dict[str, tuple[list[tuple[float, float]], list[tuple[float, float]]]] = {}
        self.candles: dict[str, list[tuple[datetime, float, float, float, float]]] = {}

    def set_book(
        self,
        symbol: str,
        mid: float,
        *,
        spread: float = 0.0002,
        depth: int = 5,
        amount: float = 10.0,
        step: float = 0.0005,
    ) -> None:
        """A symmetric book: ``depth`` levels each side, ``amount`` each, ``step`` apart."""
        half = mid * spread / 2
        bids = [(mid - half - i * mid * step, amount) for i in range(depth)]
        asks = [(mid + half + i * mid * step, amount) for i in range(depth)]
        self.books[symbol] = (bids, asks)

    def add_candle(
        self, symbol: str, ts: datetime, open_: float, high: float, low: float, close: float
    ) -> None:
        self.candles.setdefault(symbol, []).append((ts, open_, high, low, close))

    def fetch_ohlcv(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start: datetime,
        end: datetime,
        now: datetime | None = None,
    ) -> pd.DataFrame:
        limit = now or self.clock()
        step = timeframe_delta(timeframe)
        rows = [
            (exchange, symbol, timeframe, ts, o, h, lo, c, 1.0)
            for ts, o, h, lo, c in self.candles.get(symbol, [])
            if start <= ts < end and ts + step <= limit
        ]
        if not rows:
            return empty_ohlcv()
        frame = pd.DataFrame(rows, columns=OHLCV_COLUMNS)
        frame["ts"] = frame["ts"].astype("datetime64[us]")
        return frame

    def fetch_order_book(
        self, exchange: str, symbol: str, depth: int, at: datetime | None = None
    ) -> OrderBook:
        bids, asks = self.books[symbol]
        return OrderBook(exchange, symbol, at or self.clock(), bids[:depth], asks[:depth])


def make_intent(
    symbol: str = "BTC/USDT",
    *,
    action: str = "open",
    side: str | None = None,
    bar_ts: datetime = T0,
    notional: float | None = 100.0,
    quantity: float | None = None,
    strategy: str = "macd",
    exchange: str = "sim",
    **extra: object,
) -> OrderIntent:
    side = side or ("buy" if action == "open" else "sell")
    return OrderIntent(
        intent_id=make_intent_id(strategy, exchange, symbol, "1m", bar_ts, action),
        strategy=strategy,
        exchange=exchange,
        symbol=symbol,
        timeframe="1m",
        bar_ts=bar_ts,
        decided_at=bar_ts + timedelta(minutes=1),
        side=side,  # type: ignore[arg-type]
        action=action,  # type: ignore[arg-type]
        notional=notional if action == "open" else None,
        quantity=quantity,
        reference_price=extra.pop("reference_price", None),  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


def make_order(**changes: object) -> OrderRecord:
    """An entry order as the ledger holds it before submission; ``changes`` override fields."""
    base = OrderRecord(
        id=1,
        client_order_id="tp-abc-e0",
        exchange_order_id=None,
        intent_id="abc",
        strategy="macd",
        exchange="sim",
        symbol="BTC/USDT",
        side="buy",
        order_type="market",
        role="entry",
        attempt=0,
        post_only=False,
        quantity=1.0,
        price=None,
        stop_price=None,
        state=OrderState.PENDING_SUBMIT,
        filled_quantity=0.0,
        average_price=None,
        fee=0.0,
        fee_currency=None,
        reason=None,
        mode="paper",
        submitted_at=None,
        lookups=0,
        created_at=T0,
        updated_at=T0,
    )
    return dataclasses.replace(base, **changes)
