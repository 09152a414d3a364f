"""The USDⓈ-M futures endpoints of the fake Binance: market metadata, funding rate history and
open interest history, for tests of funding and open interest through real ccxt.

Served (the layouts and limits of Binance's API):

- ``GET /fapi/v1/exchangeInfo``: one PERPETUAL per spot symbol quoted in USDT
  (``BTCUSDT`` -> ccxt ``BTC/USDT:USDT``);
- ``GET /fapi/v1/fundingRate``: ``symbol``, ``startTime``, ``endTime``, ``limit`` (default
  100, at most 1000), ascending by ``fundingTime``; without ``startTime`` the latest ones;
- ``GET /futures/data/openInterestHist``: ``symbol``, ``period`` (required), ``limit``
  (default 30, at most 500), ``startTime``, ``endTime``; only the last 30 days of the
  exchange clock, as Binance.

Records are stored as given (strings, numbers, even hostile values), so a test can make the
exchange return NaN, a negative open interest or two versions of one funding time. The
futures state hangs on the fake exchange (``futures(fake)``); ``handle`` routes these paths
here and every other one to the spot API (``tests.fakes.binance_api``).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.binance_api import Params, Response, parse_params
from tests.fakes.binance_api import handle as spot_handle
from tests.fakes.binance_errors import BinanceError, invalid_symbol, invalid_value, mandatory
from tests.fakes.binance_exchange import FakeExchange

FUTURES_PREFIXES = ("/fapi/", "/futures/data/")
PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
OPEN_INTEREST_DAYS = 30
DAY_MS = 86_400_000


@dataclass
class FuturesState:
    funding: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    open_interest: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_STATES: weakref.WeakKeyDictionary[FakeExchange, FuturesState] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def futures(exchange: FakeExchange) -> FuturesState:
    with _STATES_LOCK:
        return _STATES.setdefault(exchange, FuturesState())


def perpetual_ids(exchange: FakeExchange) -> list[str]:
    return [s.symbol for s in exchange.market.symbols.values() if s.quote == "USDT"]


def add_funding_rates(exchange: FakeExchange, symbol: str, rows: list[dict[str, Any]]) -> int:
    """Funding records ``{"time": ms, "rate": value, "mark_price": value?}`` of a perpetual
    (exchange id ``BTCUSDT``), kept in time order (a repeated time is a second version)."""
    state = futures(exchange)
    with state.lock:
        stored = state.funding.setdefault(symbol, [])
        stored += [
            {"symbol": symbol, "fundingTime": int(r["time"]), "fundingRate": str(r["rate"]),
             "markPrice": str(r.get("mark_price", "0"))}
            for r in rows
        ]  # fmt: skip
        stored.sort(key=lambda r: r["fundingTime"])
        return len(rows)


def add_open_interest(exchange: FakeExchange, symbol: str, rows: list[dict[str, Any]]) -> int:
    """Open interest records ``{"time": ms, "amount": value, "value": value}``."""
    state = futures(exchange)
    with state.lock:
        stored = state.open_interest.setdefault(symbol, [])
        stored += [
            {"symbol": symbol, "sumOpenInterest": str(r["amount"]),
             "sumOpenInterestValue": str(r["value"]), "timestamp": int(r["time"])}
            for r in rows
        ]  # fmt: skip
        stored.sort(key=lambda r: r["timestamp"])
        return len(rows)


def _perpetual(exchange: FakeExchange, p: Params) -> str:
    symbol = p.required("symbol")
    if symbol not in perpetual_ids(exchange):
        raise invalid_symbol()
    return symbol


def _window(records: list[dict[str, Any]], key: str, p: Params, limit: int) -> list[dict]:
    start, end = p.integer("startTime"), p.integer("endTime")
    if start is not None and end is not None and start > end:
        raise BinanceError(-1128, "Combination of optional parameters invalid.")
    inside = [
        r for r in records
        if (start is None or r[key] >= start) and (end is None or r[key] <= end)
    ]  # fmt: skip
    return inside[:limit] if start is not None else inside[-limit:]


def _exchange_info(exchange: FakeExchange, p: Params) -> dict[str, Any]:
    specs = [s for s in exchange.market.symbols.values() if s.quote == "USDT"]
    return {
        "timezone": "UTC",
        "serverTime": exchange.now_ms(),
        "futuresType": "U_MARGINED",
        "rateLimits": [],
        "exchangeFilters": [],
        "assets": [],
        "symbols": [
            {
                "symbol": s.symbol, "pair": s.symbol, "contractType": "PERPETUAL",
                "deliveryDate": 4133404800000, "onboardDate": 1569398400000,
                "status": "TRADING", "baseAsset": s.base, "quoteAsset": s.quote,
                "marginAsset": s.quote, "pricePrecision": 2, "quantityPrecision": 3,
                "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
                "underlyingSubType": [], "triggerProtect": "0.0500",
                "liquidationFee": "0.012500", "marketTakeBound": "0.05",
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": str(s.tick_size),
                     "maxPrice": "1000000", "tickSize": str(s.tick_size)},
                    {"filterType": "LOT_SIZE", "minQty": str(s.step_size), "maxQty": "1000",
                     "stepSize": str(s.step_size)},
                    {"filterType": "MIN_NOTIONAL", "notional": "5"},
                ],
                "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC", "IOC"],
            }
            for s in specs
        ],
    }  # fmt: skip


def _funding(exchange: FakeExchange, p: Params) -> list[dict[str, Any]]:
    symbol = _perpetual(exchange, p)
    state = futures(exchange)
    with state.lock:
        records = list(state.funding.get(symbol, []))
    return _window(records, "fundingTime", p, p.limit(100, 1000))


def _open_interest(exchange: FakeExchange, p: Params) -> list[dict[str, Any]]:
    symbol = _perpetual(exchange, p)
    period = p.text("period")
    if period is None:
        raise mandatory("period")
    if period not in PERIODS:
        raise invalid_value("period")
    oldest = exchange.now_ms() - OPEN_INTEREST_DAYS * DAY_MS
    state = futures(exchange)
    with state.lock:
        records = [r for r in state.open_interest.get(symbol, []) if r["timestamp"] >= oldest]
    return _window(records, "timestamp", p, p.limit(30, 500))


ROUTES = {
    "/fapi/v1/ping": (set(), lambda ex, p: {}),
    "/fapi/v1/time": (set(), lambda ex, p: {"serverTime": ex.now_ms()}),
    "/fapi/v1/exchangeInfo": (set(), _exchange_info),
    "/fapi/v1/fundingRate": ({"symbol", "startTime", "endTime", "limit"}, _funding),
    "/futures/data/openInterestHist": (
        {"symbol", "period", "limit", "startTime", "endTime"},
        _open_interest,
    ),
}


def handle(
    exchange: FakeExchange,
    method: str,
    path: str,
    query: str,
    body: str,
    headers: Mapping[str, str],
) -> Response:
    """Answer one REST request: a futures path here, any other as the spot API does."""
    if not path.startswith(FUTURES_PREFIXES):
        return spot_handle(exchange, method, path, query, body, headers)
    route = ROUTES.get(path)
    if route is None:
        return Response(404, None)
    if method != "GET":
        return Response(405, None)
    allowed, handler = route
    try:
        raw = parse_params(query, body)
        unread = set(raw) - allowed
        if unread:
            raise BinanceError(
                -1104,
                "Not all sent parameters were read; read "
                f"'{len(raw) - len(unread)}' parameter(s) but was sent '{len(raw)}'.",
            )
        return Response(200, handler(exchange, Params(raw)))
    except BinanceError as error:
        return Response(error.status, error.payload())


def make_futures_client(url: str, **options: Any):  # -> ccxt.binance
    """``make_ccxt_client`` with the USDⓈ-M markets loaded too (``/fapi/v1/exchangeInfo``)
    and the futures data endpoints (``/futures/data``, absent from ccxt's sandbox table)
    pointed at the fake."""
    from tests.fakes.binance_server import make_ccxt_client

    client = make_ccxt_client(url, fetchMarkets={"types": ["spot", "linear"]}, **options)
    base = url.rstrip("/")
    client.urls["api"]["fapiData"] = base + "/futures/data"
    return client
