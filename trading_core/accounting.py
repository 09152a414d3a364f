"""One accounting core: how a fill moves a position, its cash and its realized P&L.

Pure (no pandas, no I/O), used by the executor's ledger, the trade journal and the backtester
so that all three count the same way. Average-cost method, per (account, symbol):

- A fill that grows the position moves the average cost; one that shrinks it realizes
  ``(price - average cost) * closed quantity`` (sign flipped for a short); one that crosses
  zero closes the old position and opens the remainder at the fill price.
- The average cost is gross of fees; fees are kept apart, valued in the quote currency at fill
  time, so ``realized_net = realized_gross - fees_quote``.
- The fee currency decides what the fee moves (Binance spot charges buys in the base asset):

  * **base**: the account receives ``quantity - fee`` on a buy and delivers
    ``quantity + fee`` on a sell; the fee is valued at the fill price. The position moves by
    that net base amount (so base units given up as a fee on a sell realize their gain like
    any other units sold);
  * **quote** (or ``None``): the fee reduces the cash;
  * **a third currency** (BNB): neither base nor quote balance moves; the fee is valued at
    ``fee_price`` (quote per unit of the fee currency, required) and reported in
    ``fee_asset`` so the caller can debit that currency.

Identity (kept by construction): over any sequence of fills,
``quote cash change + base balance * p == realized_net + (p - average_cost) * quantity``
at any price ``p``, for fees paid in base or quote (a third-currency fee adds ``-fee_quote``
to the left side only through the fee currency's own balance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Below this a quantity is zero (floating-point residue of adding and subtracting fills).
QTY_EPSILON = 1e-12

SIDES = ("buy", "sell")


class AccountingError(ValueError):
    """A fill or a book that cannot be accounted for; the message names the field."""


@dataclass(frozen=True)
class Execution:
    """One fill as the exchange reports it."""

    side: str  # "buy" | "sell"
    quantity: float  # base quantity traded (gross, before any fee in base)
    price: float  # quote per base
    fee: float = 0.0  # amount of fee_currency
    fee_currency: str | None = None  # None -> the quote currency
    fee_price: float | None = None  # quote per unit of fee_currency, for a third currency


@dataclass(frozen=True)
class Book:
    """A position of one (account, symbol), average-cost method."""

    quantity: float = 0.0  # signed base quantity held (fees in base already deducted)
    average_cost: float = 0.0  # quote per base of the open quantity, gross of fees
    realized_gross: float = 0.0  # cumulative, quote, before fees
    fees_quote: float = 0.0  # cumulative fees valued in quote at fill time

    @property
    def realized_net(self) -> float:
        return self.realized_gross - self.fees_quote


@dataclass(frozen=True)
class Applied:
    book: Book  # the book after the fill
    base_delta: float  # change of the account's base balance
    quote_delta: float  # change of the account's quote balance
    fee_quote: float  # this fill's fee valued in quote
    realized_gross: float  # realized by this fill, before fees
    realized_net: float  # realized_gross - fee_quote
    fee_asset: str  # the currency the fee was paid in


def _finite(name: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AccountingError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise AccountingError(f"{name} must be finite, got {number}")
    if positive and number <= 0:
        raise AccountingError(f"{name} must be > 0, got {number}")
    if number < 0:
        raise AccountingError(f"{name} must be >= 0, got {number}")
    return number


def _currency(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AccountingError(f"{name} must be a non-empty currency code, got {value!r}")
    return value


def _validated(e: Execution, base: str, quote: str) -> str:
    """Check the fill; return its fee asset."""
    _currency("base", base)
    _currency("quote", quote)
    if base == quote:
        raise AccountingError(f"base and quote must differ, both are {base!r}")
    if e.side not in SIDES:
        raise AccountingError(f"side must be one of {SIDES}, got {e.side!r}")
    _finite("quantity", e.quantity, positive=True)
    _finite("price", e.price, positive=True)
    _finite("fee", e.fee)
    if e.fee_currency is None:
        return quote
    return _currency("fee_currency", e.fee_currency)


def fee_in_quote(e: Execution, base: str, quote: str) -> float:
    """The fill's fee valued in the quote currency at fill time.

    A fee in base is valued at the fill price; one in a third currency at ``fee_price``,
    which is then required (a zero fee needs no price).
    """
    asset = _validated(e, base, quote)
    if asset == quote:
        return float(e.fee)
    if asset == base:
        return float(e.fee) * float(e.price)
    if e.fee_price is None:
        if e.fee == 0:
            return 0.0
        raise AccountingError(
            f"fee_price is required for a fee in {asset} (neither {base} nor {quote}): "
            f"quote per {asset} at fill time"
        )
    return float(e.fee) * _finite("fee_price", e.fee_price, positive=True)


def _checked_book(book: Book) -> Book:
    for name in ("quantity", "average_cost", "realized_gross", "fees_quote"):
        value = getattr(book, name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AccountingError(f"book.{name} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise AccountingError(f"book.{name} must be finite, got {value}")
    if book.average_cost < 0:
        raise AccountingError(f"book.average_cost must be >= 0, got {book.average_cost}")
    if book.fees_quote < 0:
        raise AccountingError(f"book.fees_quote must be >= 0, got {book.fees_quote}")
    return book


def move_position(
    quantity: float, average_cost: float, delta: float, price: float
) -> tuple[float, float, float]:
    """Average-cost step: ``(new quantity, new average cost, realized)`` after ``delta`` base
    units (signed) change hands at ``price``. Flat positions have an average cost of 0."""
    flat = abs(quantity) <= QTY_EPSILON
    if flat or (quantity > 0) == (delta > 0):
        new_quantity = quantity + delta
        held = 0.0 if flat else abs(quantity)
        average = (held * average_cost + abs(delta) * price) / abs(new_quantity)
        return new_quantity, average, 0.0
    closed = min(abs(delta), abs(quantity))
    realized = (price - average_cost) * closed * (1.0 if quantity > 0 else -1.0)
    new_quantity = quantity + delta
    if abs(new_quantity) <= QTY_EPSILON:
        return 0.0, 0.0, realized
    if abs(delta) > abs(quantity):
        return new_quantity, price, realized  # flipped: the remainder opened at this price
    return new_quantity, average_cost, realized


def apply_execution(book: Book, e: Execution, base: str, quote: str) -> Applied:
    """The book and balance changes after one fill (see the module docstring for the rules)."""
    _checked_book(book)
    fee_quote = fee_in_quote(e, base, quote)
    asset = quote if e.fee_currency is None else e.fee_currency
    traded = float(e.quantity) if e.side == "buy" else -float(e.quantity)
    base_delta = traded
    quote_delta = -traded * float(e.price)
    if asset == base:
        base_delta -= float(e.fee)
        if e.side == "buy" and base_delta <= QTY_EPSILON:
            raise AccountingError(
                f"fee {e.fee} {base} must be below the quantity bought ({e.quantity})"
            )
    elif asset == quote:
        quote_delta -= float(e.fee)
    if abs(base_delta) <= QTY_EPSILON:
        quantity, average, realized = book.quantity, book.average_cost, 0.0
    else:
        quantity, average, realized = move_position(
            book.quantity, book.average_cost, base_delta, float(e.price)
        )
    if abs(quantity) <= QTY_EPSILON:
        quantity, average = 0.0, 0.0
    after = Book(
        quantity=quantity,
        average_cost=average,
        realized_gross=book.realized_gross + realized,
        fees_quote=book.fees_quote + fee_quote,
    )
    return Applied(
        book=after,
        base_delta=base_delta,
        quote_delta=quote_delta,
        fee_quote=fee_quote,
        realized_gross=realized,
        realized_net=realized - fee_quote,
        fee_asset=asset,
    )
