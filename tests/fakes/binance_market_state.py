"""The public side of the fake exchange: listed symbols, klines, books, the trade tape,
last prices, and the market-data answers built from them.

No lock of its own: ``FakeExchange`` holds its lock around every call. Symbols here are
exchange ids (``BTCUSDT``); ``symbol_id`` turns a test's spelling into one.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from tests.fakes.binance_errors import invalid_symbol, window_too_long
from tests.fakes.binance_market import (
    INTERVAL_MS,
    Book,
    CandleSeries,
    PublicTrade,
    SymbolSpec,
    TradeTape,
    candle_stats,
    candle_values,
)
from tests.fakes.binance_values import ZERO, Number, dec, fmt

DAY_MS = 86_400_000
HOUR_MS = 3_600_000

RATE_LIMITS: list[dict[str, Any]] = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
]


class MarketState:
    """Symbols and everything public about them."""

    def __init__(self, symbols: Iterable[SymbolSpec]) -> None:
        self.symbols: dict[str, SymbolSpec] = {s.symbol: s for s in symbols}
        self.last_price: dict[str, Decimal] = {}
        self._candles: dict[tuple[str, str], CandleSeries] = {}
        self._books: dict[str, Book] = {}
        self._tapes: dict[str, TradeTape] = {}
        # After a restart from a state file the tape is empty; ids continue from here.
        self._trade_id_floor: dict[str, int] = {}

    # ------------------------------------------------------------------------ lookups

    def symbol_id(self, symbol: str) -> str:
        """A test's ``BTC/USDT`` or ``BTCUSDT`` as a listed id (KeyError names the list)."""
        symbol_id = symbol.replace("/", "")
        if symbol_id not in self.symbols:
            raise KeyError(f"unknown symbol {symbol!r}; listed: {sorted(self.symbols)}")
        return symbol_id

    def spec(self, symbol: str) -> SymbolSpec:
        """The listed symbol a request names, or Binance's -1121."""
        spec = self.symbols.get(symbol)
        if spec is None:
            raise invalid_symbol()
        return spec

    def book(self, symbol: str) -> Book:
        return self._books.setdefault(symbol, Book())

    def tape(self, symbol: str) -> TradeTape:
        return self._tapes.setdefault(symbol, TradeTape())

    def next_trade_id(self, symbol: str) -> int:
        return max(self.tape(symbol).next_id, self._trade_id_floor.get(symbol, 1))

    def record_trade(
        self, symbol: str, price: Decimal, qty: Decimal, time: int, buyer_maker: bool
    ) -> int:
        """Append a trade to the public tape (and make it the last price); returns its id."""
        trade_id = self.next_trade_id(symbol)
        self.tape(symbol).append(PublicTrade(trade_id, price, qty, time, buyer_maker))
        self.last_price[symbol] = price
        return trade_id

    def reference_price(self, symbol: str, now_ms: int) -> Decimal | None:
        """Last price, else the latest visible close, else the book mid: what Binance's
        average-price filters would see."""
        if symbol in self.last_price:
            return self.last_price[symbol]
        tape = self._tapes.get(symbol)
        if tape is not None and tape.trades:
            return tape.trades[-1].price
        latest = [
            found
            for (sym, _), series in self._candles.items()
            if sym == symbol and (found := series.latest(now_ms)) is not None
        ]
        if latest:
            return Decimal(max(latest, key=lambda item: item[0])[1][3])
        book = self._books.get(symbol)
        if book is not None and book.bids and book.asks:
            return (book.bids[0][0] + book.asks[0][0]) / 2
        return None

    # ------------------------------------------------------------------------ seeding

    def add_candles(self, symbol: str, interval: str, rows: list[list[Any]]) -> int:
        if interval not in INTERVAL_MS:
            raise ValueError(f"interval {interval!r}; allowed: {list(INTERVAL_MS)}")
        values = candle_values(rows)
        series = self._candles.setdefault((symbol, interval), CandleSeries(INTERVAL_MS[interval]))
        series.upsert_many(values)
        return len(values)

    def correct_candle(
        self, symbol: str, interval: str, open_ms: int, values: dict[str, Number]
    ) -> None:
        positions = {"open": 0, "high": 1, "low": 2, "close": 3, "volume": 4}
        bad = sorted(set(values) - set(positions))
        if bad:
            raise ValueError(f"cannot correct {bad}; allowed: {list(positions)}")
        series = self._candles.get((symbol, interval))
        if series is None or open_ms not in series.rows:
            raise KeyError(f"no {symbol} {interval} candle opens at {open_ms}")
        row = list(series.rows[open_ms])
        for name, value in values.items():
            row[positions[name]] = fmt(dec(value))
        if "volume" in values or "close" in values:
            row[5] = fmt(Decimal(row[4]) * Decimal(row[3]))
        series.upsert(open_ms, row)

    def set_book(
        self, symbol: str, bids: list[tuple[Number, Number]], asks: list[tuple[Number, Number]]
    ) -> None:
        if bids and asks and max(dec(p) for p, _ in bids) >= min(dec(p) for p, _ in asks):
            raise ValueError(f"crossed book for {symbol}: best bid >= best ask")
        self.book(symbol).replace_levels(bids, asks)

    def add_trades(self, symbol: str, trades: list[PublicTrade]) -> None:
        tape = self.tape(symbol)
        for trade in trades:
            tape.append(trade)
        if trades:
            self.last_price[symbol] = trades[-1].price

    # ---------------------------------------------------------------------- answers

    def exchange_info(self, symbols: list[str] | None, now_ms: int) -> dict[str, Any]:
        specs = list(self.symbols.values()) if symbols is None else [self.spec(s) for s in symbols]
        return {
            "timezone": "UTC",
            "serverTime": now_ms,
            "rateLimits": RATE_LIMITS,
            "exchangeFilters": [],
            "symbols": [s.exchange_info() for s in specs],
        }

    def klines(
        self,
        symbol: str,
        interval: str,
        start: int | None,
        end: int | None,
        limit: int,
        now_ms: int,
    ) -> list[list[Any]]:
        self.spec(symbol)
        series = self._candles.get((symbol, interval))
        return [] if series is None else series.query(start, end, limit, now_ms)

    def depth(self, symbol: str, limit: int) -> dict[str, Any]:
        self.spec(symbol)
        return self.book(symbol).depth(limit)

    def recent_trades(self, symbol: str, limit: int) -> list[dict[str, Any]]:
        self.spec(symbol)
        return [t.trade_json() for t in self.tape(symbol).recent(limit)]

    def historical_trades(
        self, symbol: str, from_id: int | None, limit: int
    ) -> list[dict[str, Any]]:
        self.spec(symbol)
        tape = self.tape(symbol)
        trades = tape.recent(limit) if from_id is None else tape.from_id(from_id, limit)
        return [t.trade_json() for t in trades]

    def agg_trades(
        self,
        symbol: str,
        from_id: int | None,
        start: int | None,
        end: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        if start is not None and end is not None and end - start > HOUR_MS:
            raise window_too_long(1)
        self.spec(symbol)
        tape = self.tape(symbol)
        if from_id is not None:
            trades = tape.from_id(from_id, limit)
        elif start is None and end is None:
            trades = tape.recent(limit)
        else:
            trades = tape.between(start, end, limit)
        return [t.agg_json() for t in trades]

    def ticker_prices(self, symbols: list[str] | None, now_ms: int) -> list[dict[str, Any]]:
        return [
            {"symbol": s, "price": fmt(self._last_or_zero(s, now_ms))}
            for s in self._ticker_symbols(symbols)
        ]

    def book_tickers(self, symbols: list[str] | None) -> list[dict[str, Any]]:
        return [{"symbol": s, **self._top_of_book(s)} for s in self._ticker_symbols(symbols)]

    def tickers_24hr(self, symbols: list[str] | None, now_ms: int) -> list[dict[str, Any]]:
        return [self._ticker_24hr(s, now_ms) for s in self._ticker_symbols(symbols)]

    def _last_or_zero(self, symbol: str, now_ms: int) -> Decimal:
        price = self.reference_price(symbol, now_ms)
        return price if price is not None else ZERO

    def _ticker_symbols(self, symbols: list[str] | None) -> list[str]:
        if symbols is None:
            return list(self.symbols)
        for symbol in symbols:
            self.spec(symbol)
        return symbols

    def _top_of_book(self, symbol: str) -> dict[str, str]:
        book = self._books.get(symbol, Book())
        bid = book.bids[0] if book.bids else [ZERO, ZERO]
        ask = book.asks[0] if book.asks else [ZERO, ZERO]
        return {
            "bidPrice": fmt(bid[0]),
            "bidQty": fmt(bid[1]),
            "askPrice": fmt(ask[0]),
            "askQty": fmt(ask[1]),
        }

    def _ticker_24hr(self, symbol: str, now_ms: int) -> dict[str, Any]:
        """24h statistics from the public tape if it has trades in the window, else from the
        finest seeded klines, else flat at the last price."""
        start = now_ms - DAY_MS
        last = self._last_or_zero(symbol, now_ms)
        stats = {"open": last, "high": last, "low": last, "close": last}
        volume = quote_volume = ZERO
        first_id = last_id = -1
        window = [t for t in self.tape(symbol).trades if start <= t.time <= now_ms]
        series = sorted(
            (s for (sym, _), s in self._candles.items() if sym == symbol),
            key=lambda s: s.interval_ms,
        )
        if window:
            prices = [t.price for t in window]
            stats = {"open": prices[0], "high": max(prices), "low": min(prices), "close": last}
            volume = sum((t.qty for t in window), ZERO)
            quote_volume = sum((t.qty * t.price for t in window), ZERO)
            first_id, last_id = window[0].trade_id, window[-1].trade_id
        elif series and (rows := series[0].window(start, now_ms)):
            candles = candle_stats(rows)
            stats = {key: candles[key] for key in ("open", "high", "low", "close")}
            volume, quote_volume = candles["volume"], candles["quote_volume"]
        change = stats["close"] - stats["open"]
        percent = change / stats["open"] * 100 if stats["open"] else ZERO
        return {
            "symbol": symbol,
            "priceChange": fmt(change),
            "priceChangePercent": f"{percent:.3f}",
            "weightedAvgPrice": fmt(quote_volume / volume if volume else stats["close"]),
            "prevClosePrice": fmt(stats["open"]),
            "lastPrice": fmt(stats["close"]),
            "lastQty": fmt(window[-1].qty if window else ZERO),
            **self._top_of_book(symbol),
            "openPrice": fmt(stats["open"]),
            "highPrice": fmt(stats["high"]),
            "lowPrice": fmt(stats["low"]),
            "volume": fmt(volume),
            "quoteVolume": fmt(quote_volume),
            "openTime": start,
            "closeTime": now_ms,
            "firstId": first_id,
            "lastId": last_id,
            "count": len(window),
        }

    # ------------------------------------------------------------------ persistence

    def to_json(self) -> dict[str, Any]:
        """What survives a restart: symbols, books, last prices, next trade ids (klines and
        the tape are test seeds, re-seeded by the test)."""
        return {
            "symbols": [s.to_json() for s in self.symbols.values()],
            "books": {s: b.to_json() for s, b in self._books.items()},
            "last_prices": {s: str(p) for s, p in self.last_price.items()},
            "next_trade_ids": {s: self.next_trade_id(s) for s in self.symbols},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MarketState:
        market = cls(SymbolSpec.from_json(s) for s in data["symbols"])
        market._books = {s: Book.from_json(b) for s, b in data["books"].items()}
        market.last_price = {s: Decimal(p) for s, p in data["last_prices"].items()}
        market._trade_id_floor = dict(data["next_trade_ids"])
        return market
