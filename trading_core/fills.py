"""Fill conventions, written once and used by the backtester and the paper broker.

The README's "Fill conventions" section describes these functions; keep the two in step.

- Reference price: the signal bar's close (``close``, default) or the next bar's open
  (``next_open``).
- Slippage: ``slippage_bps`` against the trader (buys higher, sells lower). The paper broker
  walks the order-book snapshot instead when it has one, capped at ``max_slippage_bps`` from
  the best price; what lies beyond the cap is not filled.
- Fees: a fraction of traded value, taker for market orders, maker for resting limit orders.
- All-in buy size: ``cash / (price * (1 + fee))`` so that value plus fee equals the cash.
- Limit orders fill at their limit price when the market trades *through* them (a bar's low
  strictly below a buy limit, a bar's high strictly above a sell limit).
- Stop-loss, take-profit and trailing stops are evaluated intrabar on each bar after entry;
  when a bar touches both the stop and the target, the stop-loss is assumed first. A bar that
  opens beyond the level fills at its open (gap), otherwise at the level. After a
  ``next_open`` market entry, ``stops_from="fill"`` (default) checks them on the fill bar
  itself, ``stops_from="next"`` from the following bar (``BacktestConfig.stops_from``).
- Entry size and the default stop / take-profit prices: ``trading_core.position_sizing``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Side = Literal["buy", "sell"]
FillPrice = Literal["close", "next_open"]
ExitReason = Literal["stop_loss", "take_profit", "trailing_stop"]

FILL_PRICES: tuple[str, ...] = ("close", "next_open")


@dataclass(frozen=True)
class FillConventions:
    price: FillPrice = "close"
    taker_fee: float = 0.001
    maker_fee: float = 0.001
    slippage_bps: float = 0.0
    max_slippage_bps: float = 50.0

    def __post_init__(self) -> None:
        if self.price not in FILL_PRICES:
            raise ValueError(f"fill price {self.price!r} is not allowed; allowed: {FILL_PRICES}")
        for name in ("taker_fee", "maker_fee", "slippage_bps", "max_slippage_bps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def slipped_price(side: Side, price: float, slippage_bps: float) -> float:
    """The price after slippage, always against the trader."""
    factor = slippage_bps / 10_000.0
    return price * (1.0 + factor) if side == "buy" else price * (1.0 - factor)


def fee_amount(notional: float, fee_rate: float) -> float:
    return abs(notional) * fee_rate


def all_in_arithmetic(cash: float, price: float, fee_rate: float) -> float:
    """``cash / (price * (1 + fee_rate))`` without checks: the one formula, which the
    compiled sweep kernel compiles too (via ``position_sizing.quantity_arithmetic``)."""
    return cash / (price * (1.0 + fee_rate))


def all_in_quantity(cash: float, price: float, fee_rate: float) -> float:
    """Quantity such that ``quantity * price * (1 + fee_rate) == cash``."""
    if price <= 0:
        raise ValueError(f"price must be > 0, got {price}")
    return all_in_arithmetic(cash, price, fee_rate)


@dataclass(frozen=True)
class BookFill:
    quantity: float  # filled quantity (<= requested)
    average_price: float  # 0.0 when nothing filled
    levels_used: int


def walk_book(
    side: Side,
    quantity: float,
    levels: list[tuple[float, float]],
    max_slippage_bps: float,
) -> BookFill:
    """Fill a market order against one side of a book (asks for a buy, bids for a sell).

    ``levels`` are ``(price, amount)`` best first. Levels priced beyond ``max_slippage_bps``
    from the best level are not taken: the remainder stays unfilled.
    """
    if quantity <= 0 or not levels:
        return BookFill(0.0, 0.0, 0)
    best = levels[0][0]
    limit = slipped_price(side, best, max_slippage_bps)
    remaining = quantity
    cost = 0.0
    used = 0
    for price, amount in levels:
        beyond = price > limit if side == "buy" else price < limit
        if beyond or remaining <= 0:
            break
        take = min(remaining, amount)
        cost += take * price
        remaining -= take
        used += 1
    filled = quantity - remaining
    return BookFill(filled, cost / filled if filled > 0 else 0.0, used)


def limit_fills(side: Side, limit_price: float, bar_low: float, bar_high: float) -> bool:
    """A resting limit order fills when the market trades through its price."""
    return bar_low < limit_price if side == "buy" else bar_high > limit_price


def trailing_stop_level(
    position_side: Side, extreme_since_entry: float, trailing_pct: float
) -> float:
    """Stop level trailing the best price since entry (highest for a long)."""
    if position_side == "buy":
        return extreme_since_entry * (1.0 - trailing_pct)
    return extreme_since_entry * (1.0 + trailing_pct)


def intrabar_exit(
    position_side: Side,
    bar_open: float,
    bar_high: float,
    bar_low: float,
    stop_price: float | None,
    take_price: float | None,
) -> tuple[Literal["stop_loss", "take_profit"], float] | None:
    """Which protective exit a bar triggers, and at what price; stop-loss wins a tie.

    For a long (``position_side == 'buy'``): the stop triggers when ``low <= stop`` and fills at
    ``min(open, stop)``; the target triggers when ``high >= take`` and fills at
    ``max(open, take)``. Mirror image for a short.
    """
    if position_side == "buy":
        if stop_price is not None and bar_low <= stop_price:
            return "stop_loss", min(bar_open, stop_price)
        if take_price is not None and bar_high >= take_price:
            return "take_profit", max(bar_open, take_price)
    else:
        if stop_price is not None and bar_high >= stop_price:
            return "stop_loss", max(bar_open, stop_price)
        if take_price is not None and bar_low <= take_price:
            return "take_profit", min(bar_open, take_price)
    return None
