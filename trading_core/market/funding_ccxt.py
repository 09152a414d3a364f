"""Funding rates and open interest of perpetual markets through ccxt
(``fetch_funding_rate_history``, ``fetch_open_interest_history``), paginated by time and
retried like every ccxt call (``CcxtMarket._call``: a permanent error or exhausted retries
raise ``MarketDataError`` naming the exchange, contract and window).

A record repeated by a later (overlapping) page is kept once; anything else (two versions
of one time, an identical copy within a page, rows outside the window asked for) is passed
on for the checks to quarantine (``trading_core.quality.funding``): nothing is dropped
silently.
Binance serves open interest history for the last 30 days only; older windows come back
empty.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from trading_core.market.base import MarketDataError
from trading_core.market.funding import perpetual_symbol
from trading_core.quality.funding import FUNDING_COLUMNS, OPEN_INTEREST_COLUMNS
from trading_core.timeframes import naive_utc

if TYPE_CHECKING:
    from trading_core.market.ccxt_source import CcxtMarket

FUNDING_PAGE = 1000  # Binance's maximum for /fapi/v1/fundingRate
OPEN_INTEREST_PAGE = 500  # and for /futures/data/openInterestHist
OPEN_INTEREST_PERIOD = "1h"


def _paged(
    call: Callable[[int, int], list[dict[str, Any]]],
    start_ms: int,
    end_ms: int,
    page: int,
    context: str,
) -> list[dict[str, Any]]:
    """Every record of ``[start_ms, end_ms)``: pages from a moving ``since`` until a short one."""
    records: list[dict[str, Any]] = []
    earlier: set[tuple[Any, ...]] = set()  # what previous pages returned
    cursor = start_ms
    while cursor < end_ms:
        got = call(cursor, end_ms - 1)
        keys = [_identity(record) for record in got]
        records += [r for r, key in zip(got, keys, strict=True) if key not in earlier]
        earlier.update(keys)
        if len(got) < page:
            break
        last = max(int(r["timestamp"]) for r in got if r.get("timestamp") is not None)
        if last < cursor:
            raise MarketDataError(f"{context}: the exchange went back in time")
        cursor = last + 1
    return sorted(records, key=lambda r: r.get("timestamp") or 0)


def _identity(record: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, str(v)) for k, v in record.items() if k not in ("info", "datetime")))


def _ms(moment: datetime) -> int:
    return int((naive_utc(moment) - datetime(1970, 1, 1)).total_seconds() * 1000)


def _window(start: datetime, end: datetime, now: datetime | None) -> tuple[int, int]:
    stop = _ms(end) if now is None else min(_ms(end), _ms(now))
    return _ms(start), stop


def _times(records: list[dict[str, Any]]) -> np.ndarray:
    stamps = [r.get("timestamp") for r in records]
    return pd.to_datetime(pd.Series(stamps, dtype="float64"), unit="ms", errors="coerce").to_numpy(
        dtype="datetime64[us]"
    )


def _numbers(records: list[dict[str, Any]], key: str) -> np.ndarray:
    return pd.to_numeric(pd.Series([r.get(key) for r in records], dtype=object),
                         errors="coerce").to_numpy(dtype="float64")  # fmt: skip


def fetch_funding_rates(
    market: CcxtMarket, exchange: str, symbol: str, start: datetime, end: datetime,
    now: datetime | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Funding rates of ``symbol``'s perpetual with funding time in ``[start, end)``."""
    contract = perpetual_symbol(symbol)
    context = f"{exchange} {contract} funding rates [{naive_utc(start)}, {naive_utc(end)})"
    client = market.client(exchange)

    def page(since: int, until: int) -> list[dict[str, Any]]:
        return market._call(exchange, context, lambda: client.fetch_funding_rate_history(
            contract, since=since, limit=FUNDING_PAGE, params={"until": until}))  # fmt: skip

    records = _paged(page, *_window(start, end, now), FUNDING_PAGE, context)
    return pd.DataFrame(
        {"exchange": exchange, "symbol": symbol, "contract": contract,
         "ts": _times(records), "funding_rate": _numbers(records, "fundingRate")},
        columns=FUNDING_COLUMNS,
    )  # fmt: skip


def fetch_open_interest(
    market: CcxtMarket, exchange: str, symbol: str, start: datetime, end: datetime,
    now: datetime | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Hourly open interest of ``symbol``'s perpetual with time in ``[start, end)``."""
    contract = perpetual_symbol(symbol)
    context = f"{exchange} {contract} open interest [{naive_utc(start)}, {naive_utc(end)})"
    client = market.client(exchange)

    def page(since: int, until: int) -> list[dict[str, Any]]:
        return market._call(exchange, context, lambda: client.fetch_open_interest_history(
            contract, OPEN_INTEREST_PERIOD, since=since, limit=OPEN_INTEREST_PAGE,
            params={"until": until}))  # fmt: skip

    records = _paged(page, *_window(start, end, now), OPEN_INTEREST_PAGE, context)
    return pd.DataFrame(
        {"exchange": exchange, "symbol": symbol, "contract": contract,
         "ts": _times(records), "open_interest": _numbers(records, "openInterestAmount"),
         "open_interest_value": _numbers(records, "openInterestValue")},
        columns=OPEN_INTEREST_COLUMNS,
    )  # fmt: skip
