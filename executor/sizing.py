"""Exchange precision rules applied before an order is submitted (pure functions).

Quantities are floored to the lot step (never more than asked or held), prices rounded to the
tick in the direction that keeps a limit order passive. An order that the exchange would
refuse (below the minimum quantity or notional) is refused here with a reason that says so.
An exit never leaves an unsellable remainder: when what would stay behind is below the
exchange minimum, the exit takes it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from trading_core.fills import all_in_arithmetic


@dataclass(frozen=True)
class MarketRules:
    """Precision and limits of one market (from ccxt ``markets[symbol]`` or the paper config)."""

    symbol: str
    amount_step: float | None = None  # lot size; None: any quantity
    price_tick: float | None = None
    min_quantity: float = 0.0
    min_notional: float = 0.0
    max_quantity: float | None = None


class OrderNotPlaceable(ValueError):
    """The exchange would refuse this order; the message says which rule and by how much."""


def _to_step(value: float, step: float | None, rounding: str) -> float:
    if not step or value <= 0:
        return max(value, 0.0)
    units = (Decimal(repr(value)) / Decimal(repr(step))).to_integral_value(rounding=rounding)
    return float(units * Decimal(repr(step)))


def floor_quantity(quantity: float, rules: MarketRules) -> float:
    return _to_step(quantity, rules.amount_step, ROUND_FLOOR)


def round_limit_price(price: float, side: str, rules: MarketRules) -> float:
    """Round to the tick away from the market: down for buys, up for sells."""
    return _to_step(price, rules.price_tick, ROUND_FLOOR if side == "buy" else ROUND_CEILING)


def below_minimum(quantity: float, price: float, rules: MarketRules) -> str | None:
    """Why ``quantity`` at ``price`` cannot be traded, or None when it can."""
    if quantity <= 0:
        return "quantity rounds to zero at the exchange's lot size"
    if quantity < rules.min_quantity:
        return (
            f"quantity {quantity:g} is below the exchange minimum {rules.min_quantity:g} "
            f"for {rules.symbol}"
        )
    if quantity * price < rules.min_notional:
        return (
            f"notional {quantity * price:.8g} is below the exchange minimum "
            f"{rules.min_notional:g} for {rules.symbol}"
        )
    if rules.max_quantity is not None and quantity > rules.max_quantity:
        return (
            f"quantity {quantity:g} is above the exchange maximum {rules.max_quantity:g} "
            f"for {rules.symbol}"
        )
    return None


def is_dust(quantity: float, price: float, rules: MarketRules) -> bool:
    """A holding too small to sell on its own."""
    return below_minimum(floor_quantity(abs(quantity), rules), price, rules) is not None


def entry_quantity(
    notional: float, price: float, rules: MarketRules, *, fee_rate: float = 0.0
) -> float:
    """Base quantity buying ``notional`` quote at ``price``, floored to the lot step.

    ``fee_rate`` > 0: the notional includes the fee (all-in), so the quantity is
    ``notional / (price * (1 + fee_rate))`` (``trading_core.fills.all_in_arithmetic``, the
    backtester's formula); 0: ``notional / price`` (the same formula, bit for bit).
    """
    if price <= 0 or not math.isfinite(price):
        raise OrderNotPlaceable(f"no usable price for {rules.symbol} (got {price})")
    if not (math.isfinite(fee_rate) and 0.0 <= fee_rate < 1.0):
        raise ValueError(f"fee_rate must be a fraction in [0, 1), got {fee_rate!r}")
    quantity = floor_quantity(all_in_arithmetic(notional, price, fee_rate), rules)
    reason = below_minimum(quantity, price, rules)
    if reason:
        raise OrderNotPlaceable(reason)
    return quantity


def exit_quantity(held: float, requested: float | None, price: float, rules: MarketRules) -> float:
    """How much to sell out of ``held`` when asked for ``requested`` (None: all of it).

    If the remainder would be below the exchange minimum it is sold too; what is left below
    one lot step cannot be sold by any order and stays as dust.
    """
    if held <= 0:
        raise OrderNotPlaceable(f"no position in {rules.symbol} to exit")
    wanted = held if requested is None else min(requested, held)
    quantity = floor_quantity(wanted, rules)
    if quantity < floor_quantity(held, rules) and is_dust(held - quantity, price, rules):
        quantity = floor_quantity(held, rules)
    reason = below_minimum(quantity, price, rules)
    if reason:
        raise OrderNotPlaceable(f"cannot exit {held:g} {rules.symbol}: {reason}")
    return quantity
