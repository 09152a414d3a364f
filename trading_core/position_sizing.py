"""The one sizing path and the one place exit levels are computed.

The live asset (``assets/strategy.py`` ``intent_for``) and the backtester
(``trading_core/backtest/engine.py`` and the compiled sweep kernel) both call these functions,
so an entry commits the same share of equity and gets the same stop-loss / take-profit
prices wherever it is evaluated.

- ``entry_notional``: ``min(size_fraction or 1, 1) * position_fraction * equity``, never above
  the available cash and never below 0. Single-strategy backtests and replays are all-in
  (``position_fraction=1``; when flat, equity equals cash), so they commit
  ``size_fraction`` of cash, as they always did.
- ``all_in_quantity``: the quantity whose value plus the taker fee equals the notional.
- ``exit_levels``: the strategy's own levels win; otherwise the configured default fractions
  of the entry price, which is the fill price everywhere: the backtester passes its fill,
  and the executor its entry fill (the live intent carries the fractions,
  ``OrderIntent.stop_loss_pct`` / ``take_profit_pct``, and the executor applies them when
  the entry fills); otherwise no level.

Pure functions: no I/O, no pandas. Bad input is a ``ValueError`` naming the argument.
``notional_arithmetic`` and ``quantity_arithmetic`` are the unchecked formulas the public
functions apply after checking their arguments; the compiled sweep kernel compiles these same
two functions with numba (``backtest/sweep.py``), so the formula exists once.
"""

from __future__ import annotations

import math
import numbers

from trading_core import fills

__all__ = [
    "all_in_quantity",
    "entry_notional",
    "exit_levels",
    "notional_arithmetic",
    "quantity_arithmetic",
]


def notional_arithmetic(equity: float, cash: float, fraction: float, share: float) -> float:
    """``min(fraction, 1) * share * equity`` within ``[0, cash]``; no checks (numba-safe)."""
    notional = min(fraction, 1.0) * share * equity
    return max(0.0, min(notional, cash))


# ``notional / (price * (1 + fee_rate))`` without checks: the formula of ``fills``.
quantity_arithmetic = fills.all_in_arithmetic


def _finite(name: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number}")
    if positive and number <= 0:
        raise ValueError(f"{name} must be > 0, got {number}")
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {number}")
    return number


def entry_notional(
    *,
    equity: float,
    cash: float,
    size_fraction: float | None,
    position_fraction: float = 1.0,
) -> float:
    """Quote amount an entry commits: ``min(size_fraction or 1, 1) * position_fraction *
    equity``, capped at ``cash``, never negative.

    ``size_fraction`` None means the strategy set none (all of the allowed share); a fraction
    above 1 is capped at 1. ``position_fraction`` is the risk setting (live:
    ``risk.position_fraction``; backtests and replays: 1, all-in). Raises ``ValueError``
    naming the argument on NaN, inf, negative or non-numeric input, and on a
    ``position_fraction`` above 1.
    """
    equity_v = _finite("equity", equity)
    cash_v = _finite("cash", cash)
    fraction = 1.0 if size_fraction is None else _finite("size_fraction", size_fraction)
    share = _finite("position_fraction", position_fraction)
    if share > 1.0:
        raise ValueError(f"position_fraction must be <= 1, got {share}")
    return notional_arithmetic(equity_v, cash_v, fraction, share)


def all_in_quantity(notional: float, price: float, fee_rate: float) -> float:
    """Quantity such that ``quantity * price * (1 + fee_rate) == notional``
    (``fills.all_in_quantity``, with its arguments checked)."""
    notional_v = _finite("notional", notional)
    price_v = _finite("price", price, positive=True)
    fee_v = _finite("fee_rate", fee_rate)
    if fee_v >= 1.0:
        raise ValueError(f"fee_rate must be < 1, got {fee_v}")
    return fills.all_in_quantity(notional_v, price_v, fee_v)


def _level(name: str, value: float | None) -> float | None:
    """A strategy level: None or NaN (the signal frame's "none") is no level."""
    if value is None:
        return None
    if isinstance(value, numbers.Real) and math.isnan(float(value)):
        return None
    return _finite(name, value, positive=True)


def exit_levels(
    entry_price: float,
    *,
    stop_loss: float | None,
    take_profit: float | None,
    default_stop_fraction: float | None = None,
    default_take_fraction: float | None = None,
) -> tuple[float | None, float | None]:
    """``(stop, take)`` prices of a long opened at ``entry_price``.

    The strategy's ``stop_loss`` / ``take_profit`` prices are used when set (None or NaN:
    not set); otherwise ``entry_price * (1 - default_stop_fraction)`` and
    ``entry_price * (1 + default_take_fraction)``; otherwise None (no level). Both the
    backtester and the executor pass the fill price (the executor once the entry fills), so
    the levels agree under ``next_open`` too, where the fill differs from the decision close.
    Raises ``ValueError`` naming the argument on a non-finite or non-positive price, a stop
    fraction outside (0, 1) or a take fraction <= 0.
    """
    price = _finite("entry_price", entry_price, positive=True)
    stop = _level("stop_loss", stop_loss)
    take = _level("take_profit", take_profit)
    if stop is None and default_stop_fraction is not None:
        fraction = _finite("default_stop_fraction", default_stop_fraction, positive=True)
        if fraction >= 1.0:
            raise ValueError(f"default_stop_fraction must be < 1, got {fraction}")
        stop = price * (1.0 - fraction)
    if take is None and default_take_fraction is not None:
        fraction = _finite("default_take_fraction", default_take_fraction, positive=True)
        take = price * (1.0 + fraction)
    return stop, take
