"""FIFO cost basis and realized gain, one result per fill, from the ledger's fills alone.

Conventions (the README's "Tax export" section states them for users):

- Lots are kept per exchange and symbol (the ledger's positions are), priced in the symbol's
  quote currency; a buy opens a lot, a sell consumes the oldest lots first.
- Fees are part of the basis and the proceeds. A fee in the quote currency adds to a buy's
  cost and comes off a sale's proceeds. A fee in the base currency makes a buy's lot smaller
  (quantity - fee at the full price paid) and makes a sale dispose of quantity + fee (the fee
  coins are spent at the sale's price, so proceeds stay quantity x price). A fee in a third
  currency (BNB) has no price in the ledger: it is listed, not counted, and the row says so.
  A fill without a fee currency was charged in the quote currency (``Portfolio.apply_fill``).
- A sale larger than the open lots (holdings from before the ledger, or a short) reports the
  uncovered quantity, the basis of the covered part and no gain: it is never guessed.
- Amounts are decimals built from the ledger's doubles (``Decimal(repr(x))``), so sums are
  exact and a hand-computed example matches to the last digit.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

SIDES = ("buy", "sell")
# Above any real quantity, price or fee (a typo or a unit error): refused, not exported.
MAX_AMOUNT = Decimal("1e15")
PLACES = Decimal("1e-12")
_WIDE = Context(prec=60, rounding=ROUND_HALF_EVEN)  # 1e15 x 1e15 with 12 places


def amount(value: Decimal | None) -> str:
    """A plain decimal (never ``1e-05``), at most 12 places, no trailing zeros."""
    if value is None:
        return ""
    text = format(value.quantize(PLACES, context=_WIDE), "f")
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("-0", "") else text


class TaxExportError(ValueError):
    """A fill, a format or a year the export cannot use; the message names the field."""


@dataclass(frozen=True)
class TaxFill:
    exchange: str
    symbol: str
    trade_id: str
    side: str
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    event_time: datetime  # naive UTC, like every ledger timestamp
    strategy: str | None = None
    mode: str | None = None

    @property
    def base(self) -> str:
        return self.symbol.split("/", 1)[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/", 1)[1].split(":", 1)[0]

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.price

    @property
    def tx_id(self) -> str:
        return f"{self.exchange}:{self.symbol}:{self.trade_id}"


@dataclass(frozen=True)
class Consumed:
    """The part of one lot a sale used."""

    acquired_at: datetime
    quantity: Decimal
    cost: Decimal


@dataclass(frozen=True)
class TaxRow:
    """One fill and what it did to the lots."""

    fill: TaxFill
    acquired: Decimal = Decimal(0)  # quantity a buy added to the lots
    cost: Decimal = Decimal(0)  # what that quantity cost, fees included
    disposed: Decimal = Decimal(0)  # quantity a sale took out, base fee included
    proceeds: Decimal | None = None
    cost_basis: Decimal | None = None
    gain: Decimal | None = None
    uncovered: Decimal = Decimal(0)
    consumed: tuple[Consumed, ...] = ()
    note: str = ""


@dataclass
class _Lot:
    acquired_at: datetime
    quantity: Decimal
    cost: Decimal


@dataclass
class _Book:
    lots: dict[tuple[str, str], deque[_Lot]] = field(default_factory=dict)

    def of(self, fill: TaxFill) -> deque[_Lot]:
        return self.lots.setdefault((fill.exchange, fill.symbol), deque())


def _label(row: Mapping[str, Any]) -> str:
    parts = [str(row.get(k)) for k in ("exchange", "symbol", "trade_id")]
    return "fill " + "/".join(parts)


def _decimal(row: Mapping[str, Any], name: str, *, positive: bool) -> Decimal:
    value = row.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise TaxExportError(f"{_label(row)}: {name} {value!r} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise TaxExportError(f"{_label(row)}: {name} {value!r} is not finite")
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise TaxExportError(f"{_label(row)}: {name} {value!r} is not finite")
    if positive and number <= 0:
        raise TaxExportError(f"{_label(row)}: {name} {value!r} must be greater than 0")
    if number < 0:
        raise TaxExportError(f"{_label(row)}: {name} {value!r} must not be negative")
    if number > MAX_AMOUNT:
        raise TaxExportError(f"{_label(row)}: {name} {value!r} is too large (over 1e15)")
    return number


def _text(row: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = row.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise TaxExportError(f"{_label(row)}: {name} {value!r} is not a non-empty string")
    return value


def tax_fill(row: Mapping[str, Any]) -> TaxFill:
    """A validated ``TaxFill`` from a ledger ``fills`` row (a mapping of its columns)."""
    symbol = _text(row, "symbol")
    assert symbol is not None
    if "/" not in symbol or not all(symbol.split(":", 1)[0].split("/", 1)):
        raise TaxExportError(f"{_label(row)}: symbol {symbol!r} is not BASE/QUOTE")
    side = row.get("side")
    if side not in SIDES:
        raise TaxExportError(f"{_label(row)}: side {side!r} is not one of {', '.join(SIDES)}")
    when = row.get("event_time")
    if not isinstance(when, datetime):
        raise TaxExportError(f"{_label(row)}: event_time {when!r} is not a datetime")
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    quote = symbol.split("/", 1)[1].split(":", 1)[0]
    return TaxFill(
        exchange=_text(row, "exchange") or "",
        symbol=symbol,
        trade_id=str(_text(row, "trade_id")),
        side=str(side),
        quantity=_decimal(row, "quantity", positive=True),
        price=_decimal(row, "price", positive=True),
        fee=_decimal(row, "fee", positive=False),
        fee_currency=_text(row, "fee_currency", required=False) or quote,
        event_time=when,
        strategy=row.get("strategy") if isinstance(row.get("strategy"), str) else None,
        mode=row.get("mode") if isinstance(row.get("mode"), str) else None,
    )


def _buy(fill: TaxFill, lots: deque[_Lot]) -> TaxRow:
    quantity, cost, note = fill.quantity, fill.notional, ""
    if fill.fee_currency == fill.base:
        if fill.fee >= fill.quantity:
            raise TaxExportError(
                f"fill {fill.tx_id}: fee {amount(fill.fee)} {fill.base} is not below the quantity"
            )
        quantity -= fill.fee
    elif fill.fee_currency == fill.quote:
        cost += fill.fee
    elif fill.fee:
        note = f"fee {amount(fill.fee)} {fill.fee_currency} not in the cost: no price in the ledger"
    lots.append(_Lot(fill.event_time, quantity, cost))
    return TaxRow(fill=fill, acquired=quantity, cost=cost, note=note)


def _sell(fill: TaxFill, lots: deque[_Lot]) -> TaxRow:
    wanted, proceeds, notes = fill.quantity, fill.notional, []
    if fill.fee_currency == fill.base:
        wanted += fill.fee
    elif fill.fee_currency == fill.quote:
        proceeds -= fill.fee
    elif fill.fee:
        notes.append(f"fee {amount(fill.fee)} {fill.fee_currency} not in the proceeds: no price")
    remaining, basis, used = wanted, Decimal(0), []
    while remaining > 0 and lots:
        lot = lots[0]
        take = min(remaining, lot.quantity)
        part = lot.cost if take == lot.quantity else lot.cost * take / lot.quantity
        used.append(Consumed(lot.acquired_at, take, part))
        basis += part
        remaining -= take
        lot.quantity -= take
        lot.cost -= part
        if lot.quantity <= 0:
            lots.popleft()
    gain: Decimal | None = proceeds - basis
    if remaining > 0:
        gain = None
        notes.append(
            f"{amount(remaining)} {fill.base} of this sale has no acquisition in the ledger "
            "(holdings from before it, or a short): no gain computed"
        )
    return TaxRow(
        fill=fill,
        disposed=wanted,
        proceeds=proceeds,
        cost_basis=basis,
        gain=gain,
        uncovered=remaining,
        consumed=tuple(used),
        note="; ".join(notes),
    )


def fifo_rows(rows: Iterable[Mapping[str, Any]]) -> list[TaxRow]:
    """One ``TaxRow`` per fill, in time order (ties keep the ledger's order), over the whole
    history: a sale in one year consumes lots bought in earlier ones."""
    fills = [tax_fill(row) for row in rows]
    seen: set[tuple[str, str, str]] = set()
    for fill in fills:
        key = (fill.exchange, fill.symbol, fill.trade_id)
        if key in seen:
            raise TaxExportError(f"fill {fill.tx_id}: trade_id appears twice")
        seen.add(key)
    book = _Book()
    out = []
    for fill in sorted(fills, key=lambda f: f.event_time):
        lots = book.of(fill)
        out.append(_buy(fill, lots) if fill.side == "buy" else _sell(fill, lots))
    return out
