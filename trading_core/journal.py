"""Trade journal from fills: positions, average cost, realized P&L gross and net, round trips.

Every fill goes through the one accounting core (``trading_core.accounting.apply_execution``),
the same code the executor's ledger and the backtester use, so a fee paid in the base asset
reduces the quantity received (or adds to the quantity delivered), a fee in quote reduces the
cash, and a fee in a third currency (BNB) moves neither balance and is valued in quote at the
fill time. Per (mode, exchange, symbol): a fill that crosses zero is split into a closing row
and an opening row (quantity and fee prorated), so every row belongs to one round trip (flat
to flat).

A third-currency fee is valued at the fill's own ``fee_price_quote`` when the exchange gave
one, else at the last close of ``<fee currency>/<quote>`` (or the inverse pair) on the same
exchange known at the fill time and at most ``max_fee_price_age`` old. Without either the row
is marked ``fee_unvalued`` with a reason and its ``fee_quote`` and ``realized_pnl_net`` are
null: a BNB amount is never added to USDT amounts.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from trading_core.accounting import AccountingError, Applied, Book, Execution, apply_execution

JOURNAL_COLUMNS = [
    "sequence",
    "fee_asset",
    "fee_price_quote",
    "fee_quote",
    "fee_unvalued",
    "fee_unvalued_reason",
    "base_delta",
    "quote_delta",
    "position_before",
    "position_after",
    "average_cost_after",
    "realized_pnl_gross",
    "realized_pnl_net",
    "role",
    "round_trip",
]
_TEXT_COLUMNS = {"fee_asset", "fee_unvalued_reason", "role"}

MAX_FEE_PRICE_AGE = pd.Timedelta(hours=24)
_EPSILON = 1e-12


def split_symbol(symbol: object) -> tuple[str, str]:
    """``BTC/USDT`` (or ``BTC/USDT:USDT``) -> ``("BTC", "USDT")``."""
    if not isinstance(symbol, str) or symbol.count("/") != 1:
        raise AccountingError(f"symbol must look like BASE/QUOTE, got {symbol!r}")
    base, quote = symbol.split("/")
    quote = quote.split(":", 1)[0]
    if not base or not quote:
        raise AccountingError(f"symbol must look like BASE/QUOTE, got {symbol!r}")
    return base, quote


def _book_keys(frame: pd.DataFrame) -> list[str]:
    """Positions are kept per (mode, exchange, symbol) and, when the fills name it, strategy
    instance (its sub-position): paper never mixes with live."""
    return [c for c in ("mode", "exchange", "symbol", "instance_id") if c in frame.columns]


def _sorted(fills: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("event_time", "trade_id") if c in fills.columns]
    return fills.sort_values(keys, kind="mergesort").reset_index(drop=True)


def _checked(fills: pd.DataFrame) -> pd.DataFrame:
    missing = {"symbol", "side", "quantity", "price", "event_time"} - set(fills.columns)
    if missing:
        raise AccountingError(f"fills lack the column(s) {sorted(missing)}")
    if fills["event_time"].isna().any():
        raise AccountingError(
            f"event_time is missing on {int(fills['event_time'].isna().sum())} fill(s)"
        )
    if "fill_id" in fills.columns:
        repeated = fills["fill_id"][fills["fill_id"].duplicated()].unique().tolist()
        if repeated:
            raise AccountingError(f"fill_id must be unique, repeated: {repeated[:5]}")
    out = fills.copy()
    if "fee" not in out.columns:
        out["fee"] = 0.0
    for column in ("fee_currency", "fee_price_quote"):
        if column not in out.columns:
            out[column] = None
    return out


def _number(value: Any) -> Any:
    """The value, or None for a missing one (None/NaN/NA); the accounting core checks the
    type of what is left and names the field."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _last_closes(candles: pd.DataFrame | None) -> dict[tuple[str, str], pd.DataFrame]:
    """Per (exchange, symbol): closes of every timeframe, in the order they became known."""
    if candles is None or candles.empty:
        return {}
    frame = candles[["exchange", "symbol", "available_at", "close"]].dropna()
    frame = frame.sort_values("available_at", kind="mergesort")
    return {
        key: group.reset_index(drop=True) for key, group in frame.groupby(["exchange", "symbol"])
    }


def _market_price(
    closes: dict[tuple[str, str], pd.DataFrame],
    exchange: str,
    asset: str,
    quote: str,
    at: pd.Timestamp,
    max_age: pd.Timedelta,
) -> tuple[float | None, str | None]:
    """Quote per ``asset`` from the last close known at ``at``, or why there is none."""
    for pair, invert in ((f"{asset}/{quote}", False), (f"{quote}/{asset}", True)):
        series = closes.get((exchange, pair))
        if series is None:
            continue
        i = int(series["available_at"].searchsorted(at, side="right")) - 1
        if i < 0:
            continue
        last = series.iloc[i]
        if at - last["available_at"] > max_age:
            return None, (
                f"the last {pair} close on {exchange} known at the fill is from "
                f"{last['available_at']}, older than {max_age}"
            )
        price = float(last["close"])
        if not math.isfinite(price) or price <= 0:
            return None, f"the last {pair} close on {exchange} is {price}"
        return (1.0 / price if invert else price), None
    return None, f"no {asset}/{quote} candle on {exchange} known at the fill time"


def _fee_price(
    record: dict, asset: str, base: str, quote: str, closes: dict, max_age: pd.Timedelta
) -> tuple[float | None, str | None]:
    """Quote per unit of the fee asset, or the reason it cannot be valued."""
    if asset == quote:
        return 1.0, None
    if asset == base:
        return float(record["price"]), None
    given = _number(record.get("fee_price_quote"))
    if given is None and not _number(record.get("fee")):
        return None, None  # no fee to value
    if given is not None:
        value = float(given)
        if not math.isfinite(value) or value <= 0:
            raise AccountingError(f"fee_price_quote must be finite and > 0, got {given!r}")
        return value, None
    exchange = record.get("exchange")
    return _market_price(
        closes, str(exchange), asset, quote, pd.Timestamp(record["event_time"]), max_age
    )


def _fill_execution(record: dict, base: str, quote: str, price_of_fee: float | None) -> Execution:
    fee = _number(record.get("fee"))
    currency = _number(record.get("fee_currency"))
    asset = quote if currency is None else str(currency)
    side, quantity, price = record["side"], record["quantity"], record["price"]
    if price_of_fee is None and asset not in (base, quote):
        # an unvalued third-currency fee moves neither balance: account it as no fee
        return Execution(side=side, quantity=quantity, price=price)
    return Execution(
        side=side,
        quantity=quantity,
        price=price,
        fee=0.0 if fee is None else fee,
        fee_currency=asset,
        fee_price=price_of_fee if asset not in (base, quote) else None,
    )


def _split(book: Book, whole: Applied, e: Execution) -> list[tuple[float, Execution]]:
    """The fill as [(share, part)]: two parts when it crosses zero, else itself."""
    delta = whole.base_delta
    crosses = abs(book.quantity) > _EPSILON and book.quantity * delta < 0
    if not crosses or abs(delta) <= abs(book.quantity) + _EPSILON:
        return [(1.0, e)]
    share = abs(book.quantity) / abs(delta)
    parts = []
    for fraction in (share, 1.0 - share):
        parts.append((fraction, replace(e, quantity=e.quantity * fraction, fee=e.fee * fraction)))
    return parts


def build_journal(
    fills: pd.DataFrame,
    candles: pd.DataFrame | None = None,
    *,
    max_fee_price_age: pd.Timedelta = MAX_FEE_PRICE_AGE,
) -> pd.DataFrame:
    """Every fill with the position before/after it, average cost, gross and net P&L.

    ``fills`` needs symbol, side ('buy'|'sell'), quantity (> 0), price (> 0) and event_time;
    optional fee (>= 0, in ``fee_currency``; null = the quote currency), fee_price_quote
    (quote per unit of a third fee currency), mode, exchange, fill_id (unique), trade_id.
    ``candles`` (exchange, symbol, available_at, close) values third-currency fees the fill
    does not price. ``role`` is open | add | reduce | close; ``round_trip`` numbers the
    flat-to-flat cycles of each book from 1; ``sequence`` orders rows. A bad fill raises
    ``AccountingError`` naming the field and the fill.
    """
    if fills.empty:
        out = fills.copy()
        for column in JOURNAL_COLUMNS:
            dtype = "object" if column in _TEXT_COLUMNS else "float64"
            out[column] = pd.Series(dtype="bool" if column == "fee_unvalued" else dtype)
        return out
    frame = _sorted(_checked(fills))
    closes = _last_closes(candles)
    keys = _book_keys(frame)
    books: dict[tuple, tuple[Book, int]] = {}
    rows: list[dict] = []
    for index, record in enumerate(frame.to_dict("records")):
        label = record.get("fill_id") or f"row {index}"
        try:
            base, quote = split_symbol(record["symbol"])
            currency = _number(record.get("fee_currency"))
            asset = quote if currency is None else str(currency)
            price_of_fee, unvalued = _fee_price(
                record, asset, base, quote, closes, max_fee_price_age
            )
            execution = _fill_execution(record, base, quote, price_of_fee)
            key = tuple(record[k] for k in keys)
            book, trip = books.get(key, (Book(), 0))
            parts = _split(book, apply_execution(book, execution, base, quote), execution)
            for share, part in parts:
                if abs(book.quantity) <= _EPSILON:
                    trip += 1
                applied = apply_execution(book, part, base, quote)
                if not all(map(math.isfinite, (applied.quote_delta, applied.book.realized_gross))):
                    raise AccountingError(
                        f"quantity x price overflows ({part.quantity!r} x {part.price!r})"
                    )
                rows.append(
                    _row(record, rows, share, book, applied, asset, price_of_fee, unvalued, trip)
                )
                book = applied.book
            books[key] = (book, trip)
        except AccountingError as error:
            raise AccountingError(f"fill {label}: {error}") from error
    return pd.DataFrame(rows)


def _role(before: float, after: float) -> str:
    if abs(before) <= _EPSILON:
        return "open"
    if abs(after) <= _EPSILON:
        return "close"
    return "add" if abs(after) > abs(before) else "reduce"


def _row(
    record: dict,
    rows: list[dict],
    share: float,
    book: Book,
    applied: Applied,
    asset: str,
    price_of_fee: float | None,
    unvalued: str | None,
    trip: int,
) -> dict:
    fee = _number(record.get("fee"))
    out = dict(record)
    out.update(
        sequence=len(rows),
        quantity=float(record["quantity"]) * share,
        fee=(0.0 if fee is None else float(fee)) * share,
        fee_currency=asset,
        fee_asset=asset,
        fee_price_quote=np.nan if price_of_fee is None else price_of_fee,
        fee_quote=np.nan if unvalued else applied.fee_quote,
        fee_unvalued=unvalued is not None,
        fee_unvalued_reason=unvalued,
        base_delta=applied.base_delta,
        quote_delta=applied.quote_delta,
        position_before=book.quantity,
        position_after=applied.book.quantity,
        average_cost_after=applied.book.average_cost,
        realized_pnl_gross=applied.realized_gross,
        realized_pnl_net=np.nan if unvalued else applied.realized_net,
        role=_role(book.quantity, applied.book.quantity),
        round_trip=trip,
    )
    return out
