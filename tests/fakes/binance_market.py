"""Public market data of the fake: symbols and their filters, klines, order books, trades.

Everything here is seeded by tests; nothing is invented. Responses follow the Binance spot v3
JSON layouts field by field (the layouts ccxt 4.5 parses).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from tests.fakes.binance_values import ZERO, Number, dec, floor_to_step, fmt

# Binance kline intervals of fixed length (1M, calendar months, is not modelled).
INTERVAL_MS: dict[str, int] = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}

ORDER_TYPES: list[str] = [
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
]


@dataclass(frozen=True)
class SymbolSpec:
    """One spot symbol and the filters Binance enforces on its orders."""

    symbol: str  # exchange id, BTCUSDT
    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal
    max_qty: Decimal = Decimal("9000")
    min_price: Decimal | None = None  # None: one tick
    max_price: Decimal = Decimal("1000000")
    max_notional: Decimal = Decimal("9000000")
    status: str = "TRADING"

    @property
    def lowest_price(self) -> Decimal:
        return self.min_price if self.min_price is not None else self.tick_size

    def exchange_info(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "status": self.status,
            "baseAsset": self.base,
            "baseAssetPrecision": 8,
            "quoteAsset": self.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ORDER_TYPES,
            "icebergAllowed": True,
            "ocoAllowed": True,
            "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": False,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": fmt(self.lowest_price),
                    "maxPrice": fmt(self.max_price),
                    "tickSize": fmt(self.tick_size),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": fmt(self.min_qty),
                    "maxQty": fmt(self.max_qty),
                    "stepSize": fmt(self.step_size),
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": fmt(self.min_notional),
                    "applyMinToMarket": True,
                    "maxNotional": fmt(self.max_notional),
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER"],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "base": self.base,
            "quote": self.quote,
            "tick_size": str(self.tick_size),
            "step_size": str(self.step_size),
            "min_qty": str(self.min_qty),
            "min_notional": str(self.min_notional),
            "max_qty": str(self.max_qty),
            "min_price": None if self.min_price is None else str(self.min_price),
            "max_price": str(self.max_price),
            "max_notional": str(self.max_notional),
            "status": self.status,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SymbolSpec:
        decimals = {
            key: Decimal(value)
            for key, value in data.items()
            if key not in ("symbol", "base", "quote", "status") and value is not None
        }
        return cls(
            symbol=data["symbol"],
            base=data["base"],
            quote=data["quote"],
            status=data.get("status", "TRADING"),
            **decimals,
        )


def spot_symbol(
    base: str,
    quote: str,
    tick_size: Number,
    step_size: Number,
    min_notional: Number = "5",
    **overrides: Any,
) -> SymbolSpec:
    """A symbol spec from plain numbers; ``min_qty`` defaults to one step."""
    spec = SymbolSpec(
        symbol=f"{base}{quote}",
        base=base,
        quote=quote,
        tick_size=dec(tick_size),
        step_size=dec(step_size),
        min_qty=dec(overrides.pop("min_qty", step_size)),
        min_notional=dec(min_notional),
    )
    return replace(spec, **{key: dec(value) for key, value in overrides.items()})


# Filters close to Binance's own for the symbols the project and ../shared/data use.
DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    spot_symbol("BTC", "USDT", "0.01", "0.00001"),
    spot_symbol("ETH", "USDT", "0.01", "0.0001"),
    spot_symbol("SOL", "USDT", "0.01", "0.001"),
    spot_symbol("XRP", "USDT", "0.0001", "0.1"),
    spot_symbol("ADA", "USDT", "0.0001", "0.1"),
    spot_symbol("XRP", "ETH", "0.00000001", "1", min_notional="0.001"),
)


# ---------------------------------------------------------------------------------- klines


@dataclass
class CandleSeries:
    """Klines of one symbol and interval, keyed by open time (ms)."""

    interval_ms: int
    rows: dict[int, list[Any]] = field(default_factory=dict)
    _keys: list[int] = field(default_factory=list)

    def upsert(self, open_ms: int, values: list[Any]) -> None:
        if open_ms not in self.rows:
            bisect.insort(self._keys, open_ms)
        self.rows[open_ms] = values

    def upsert_many(self, items: dict[int, list[Any]]) -> None:
        self.rows.update(items)
        self._keys = sorted(self.rows)

    def query(self, start: int | None, end: int | None, limit: int, now_ms: int) -> list[list[Any]]:
        """Binance semantics: open time in [start, end]; without start, the latest ``limit``.

        A candle exists once its open time has passed: the still-open candle is included,
        candles opening after ``now_ms`` are not (the exchange cannot know them yet).
        """
        upper = now_ms if end is None else min(end, now_ms)
        hi = bisect.bisect_right(self._keys, upper)
        if start is not None:
            lo = bisect.bisect_left(self._keys, start)
            keys = self._keys[lo : min(hi, lo + limit)]
        else:
            keys = self._keys[max(0, hi - limit) : hi]
        return [self._kline(k) for k in keys]

    def latest(self, now_ms: int) -> tuple[int, list[Any]] | None:
        hi = bisect.bisect_right(self._keys, now_ms)
        if hi == 0:
            return None
        key = self._keys[hi - 1]
        return key, self.rows[key]

    def window(self, start: int, end: int) -> list[list[Any]]:
        """Rows with open time in [start, end]."""
        lo = bisect.bisect_left(self._keys, start)
        hi = bisect.bisect_right(self._keys, end)
        return [self.rows[k] for k in self._keys[lo:hi]]

    def _kline(self, open_ms: int) -> list[Any]:
        # Stored: open, high, low, close, volume, quote volume, trades, taker base, taker quote.
        row = self.rows[open_ms]
        close_ms = open_ms + self.interval_ms - 1
        return [open_ms, *row[:5], close_ms, *row[5:], "0"]


def _amount_text(value: Number) -> str:
    # Floats (seeded frames) format directly; text and Decimals go through Decimal, exact.
    if isinstance(value, float | int):
        return f"{value:.8f}"
    return fmt(dec(value))


def candle_values(rows: list[list[Any]]) -> dict[int, list[Any]]:
    """Stored kline values keyed by open ms, from ``[open_ms, o, h, l, c, v, *extras]`` rows.

    ``extras`` (quote volume, number of trades, taker buy base, taker buy quote) are the
    kline fields Binance sends beyond OHLCV; without them quote volume is ``volume * close``
    and the rest are zero.
    """
    zero = fmt(ZERO)
    values: dict[int, list[Any]] = {}
    for row in rows:
        open_ms, o, h, low, c, v, *extras = row
        if extras:
            quote_volume, count, taker_base, taker_quote = extras
            tail = [_amount_text(quote_volume), int(count), _amount_text(taker_base)]
            tail.append(_amount_text(taker_quote))
        else:
            tail = [fmt(dec(v) * dec(c)), 0, zero, zero]
        values[int(open_ms)] = [_amount_text(x) for x in (o, h, low, c, v)] + tail
    return values


# ------------------------------------------------------------------------------ order book


@dataclass
class Book:
    """One symbol's public book: the scenery a test sets, consumed by taker orders."""

    bids: list[list[Decimal]] = field(default_factory=list)  # best (highest) first
    asks: list[list[Decimal]] = field(default_factory=list)  # best (lowest) first
    last_update_id: int = 0

    def replace_levels(
        self, bids: list[tuple[Number, Number]], asks: list[tuple[Number, Number]]
    ) -> None:
        self.bids = sorted(([dec(p), dec(q)] for p, q in bids if dec(q) > 0), key=lambda x: -x[0])
        self.asks = sorted(([dec(p), dec(q)] for p, q in asks if dec(q) > 0), key=lambda x: x[0])
        self.last_update_id += 1

    def side(self, taker_side: str) -> list[list[Decimal]]:
        """The levels a taker on ``taker_side`` trades against (asks for a BUY)."""
        return self.asks if taker_side == "BUY" else self.bids

    def consume(self, taker_side: str, fills: list[tuple[Decimal, Decimal]]) -> None:
        levels = self.side(taker_side)
        for price, qty in fills:
            level = next(lv for lv in levels if lv[0] == price)
            level[1] -= qty
        levels[:] = [lv for lv in levels if lv[1] > 0]
        self.last_update_id += 1

    def depth(self, limit: int) -> dict[str, Any]:
        return {
            "lastUpdateId": self.last_update_id,
            "bids": [[fmt(p), fmt(q)] for p, q in self.bids[:limit]],
            "asks": [[fmt(p), fmt(q)] for p, q in self.asks[:limit]],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "bids": [[str(p), str(q)] for p, q in self.bids],
            "asks": [[str(p), str(q)] for p, q in self.asks],
            "last_update_id": self.last_update_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Book:
        return cls(
            bids=[[Decimal(p), Decimal(q)] for p, q in data["bids"]],
            asks=[[Decimal(p), Decimal(q)] for p, q in data["asks"]],
            last_update_id=data["last_update_id"],
        )


def walk_book(
    levels: list[list[Decimal]],
    taker_side: str,
    step: Decimal,
    quantity: Decimal | None = None,
    quote_budget: Decimal | None = None,
    limit_price: Decimal | None = None,
) -> list[tuple[Decimal, Decimal]]:
    """(price, qty) a taker order would take, best level first, without changing the book.

    Stops at ``quantity`` (base) or ``quote_budget`` (quoteOrderQty market orders; each
    level's take rounded down to the lot step) and never crosses ``limit_price``.
    """
    fills: list[tuple[Decimal, Decimal]] = []
    remaining_qty = quantity
    remaining_quote = quote_budget
    for price, available in levels:
        if limit_price is not None and (
            price > limit_price if taker_side == "BUY" else price < limit_price
        ):
            break
        take = available
        if remaining_qty is not None:
            take = min(take, remaining_qty)
        if remaining_quote is not None:
            take = min(take, floor_to_step(remaining_quote / price, step))
        if take <= 0:
            break
        fills.append((price, take))
        if remaining_qty is not None:
            remaining_qty -= take
        if remaining_quote is not None:
            remaining_quote -= take * price
    return fills


# ---------------------------------------------------------------------------------- trades


@dataclass(frozen=True)
class PublicTrade:
    trade_id: int
    price: Decimal
    qty: Decimal
    time: int
    is_buyer_maker: bool

    def trade_json(self) -> dict[str, Any]:
        """/api/v3/trades and /api/v3/historicalTrades layout."""
        return {
            "id": self.trade_id,
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "quoteQty": fmt(self.price * self.qty),
            "time": self.time,
            "isBuyerMaker": self.is_buyer_maker,
            "isBestMatch": True,
        }

    def agg_json(self) -> dict[str, Any]:
        """/api/v3/aggTrades layout; the fake aggregates one trade per aggregate."""
        return {
            "a": self.trade_id,
            "p": fmt(self.price),
            "q": fmt(self.qty),
            "f": self.trade_id,
            "l": self.trade_id,
            "T": self.time,
            "m": self.is_buyer_maker,
            "M": True,
        }


@dataclass
class TradeTape:
    """Public trades of one symbol, in id order (ids and times both increase)."""

    trades: list[PublicTrade] = field(default_factory=list)

    @property
    def next_id(self) -> int:
        return self.trades[-1].trade_id + 1 if self.trades else 1

    def append(self, trade: PublicTrade) -> None:
        if self.trades and trade.trade_id <= self.trades[-1].trade_id:
            raise ValueError(
                f"trade id {trade.trade_id} is not above the last id {self.trades[-1].trade_id}"
            )
        self.trades.append(trade)

    def recent(self, limit: int) -> list[PublicTrade]:
        return self.trades[-limit:]

    def from_id(self, from_id: int, limit: int) -> list[PublicTrade]:
        ids = [t.trade_id for t in self.trades]
        lo = bisect.bisect_left(ids, from_id)
        return self.trades[lo : lo + limit]

    def between(self, start: int | None, end: int | None, limit: int) -> list[PublicTrade]:
        times = [t.time for t in self.trades]
        lo = 0 if start is None else bisect.bisect_left(times, start)
        hi = len(times) if end is None else bisect.bisect_right(times, end)
        return self.trades[lo:hi][:limit]


def trades_from_records(records: list[dict[str, Any]], first_id: int) -> list[PublicTrade]:
    """Public trades from records with ``time`` (ms), ``price``, ``amount`` and optional
    ``trade_id`` (else numbered from ``first_id``) and ``side`` (the taker's side: ``sell``
    means the buyer was the maker)."""
    trades = []
    for offset, record in enumerate(records):
        trade_id = record.get("trade_id")
        trades.append(
            PublicTrade(
                trade_id=int(trade_id) if trade_id is not None else first_id + offset,
                price=dec(record["price"]),
                qty=dec(record["amount"]),
                time=int(record["time"]),
                is_buyer_maker=record.get("side", "buy") == "sell",
            )
        )
    return trades


def candle_stats(rows: list[list[Any]]) -> dict[str, Decimal]:
    """Open/high/low/close/volume/quote volume over consecutive candle rows."""
    return {
        "open": Decimal(rows[0][0]),
        "high": max(Decimal(r[1]) for r in rows),
        "low": min(Decimal(r[2]) for r in rows),
        "close": Decimal(rows[-1][3]),
        "volume": sum((Decimal(r[4]) for r in rows), ZERO),
        "quote_volume": sum((Decimal(r[5]) for r in rows), ZERO),
    }
