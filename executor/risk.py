"""The risk gate: the last line of defence before an order exists (pure functions).

Every intent is checked against the trading state read from the ledger on this tick and the
limits in ``RiskConfig``. ACTIVE allows everything the limits allow; REDUCING allows only
exits; HALTED allows nothing new. Spot accounts cannot sell what they do not hold, so an
opening intent must be a buy and a closing one a sell of an open position.
"""

from __future__ import annotations

from dataclasses import dataclass

from executor.intents import OrderIntent
from executor.trading_state import TradingState
from trading_core.config import RiskConfig


@dataclass(frozen=True)
class RiskContext:
    """What the gate needs to know about the account at this tick."""

    trading_state: TradingState
    equity: float
    cash: float
    price: float  # best estimate of the execution price (last price or the intent's)
    position_quantity: float  # held in the intent's symbol
    busy_symbols: frozenset[str]  # symbols with an open position or a live entry order
    trades_today: int
    taker_fee: float
    slippage_reserve: float = 0.0  # fraction of the notional a market fill may cost more


@dataclass(frozen=True)
class RiskDecision:
    accepted: bool
    reason: str


def _reject(reason: str) -> RiskDecision:
    return RiskDecision(False, reason)


def intent_notional(intent: OrderIntent, price: float) -> float:
    """The quote value an intent asks for (notional, else quantity at ``price``)."""
    if intent.notional:
        return intent.notional
    return (intent.quantity or 0.0) * price


def _is_blacklisted(symbol: str, blacklist: list[str]) -> bool:
    base = symbol.split("/", 1)[0]
    return symbol in blacklist or base in blacklist


def check_intent(intent: OrderIntent, ctx: RiskContext, limits: RiskConfig) -> RiskDecision:
    """Accept or reject one intent; the reason names the rule and the numbers."""
    if ctx.trading_state == TradingState.HALTED:
        return _reject("trading is HALTED: no new orders")
    if intent.action == "close":
        return _check_exit(intent, ctx)
    if ctx.trading_state == TradingState.REDUCING:
        return _reject("trading is REDUCING: only exits are allowed")
    if intent.side != "buy":
        return _reject("opening a short is not supported on a spot account")
    if _is_blacklisted(intent.symbol, limits.blacklist):
        return _reject(f"{intent.symbol} is blacklisted")
    if ctx.price <= 0:
        return _reject(f"no price known for {intent.symbol}")
    notional = intent_notional(intent, ctx.price)
    if notional < limits.min_notional:
        return _reject(f"notional {notional:.2f} is below min_notional {limits.min_notional:g}")
    if notional > limits.max_notional:
        return _reject(f"notional {notional:.2f} is above max_notional {limits.max_notional:g}")
    if intent.symbol not in ctx.busy_symbols and len(ctx.busy_symbols) >= limits.max_open_positions:
        return _reject(
            f"{len(ctx.busy_symbols)} positions open or opening; max_open_positions is "
            f"{limits.max_open_positions}"
        )
    if ctx.trades_today >= limits.max_trades_per_day:
        return _reject(
            f"{ctx.trades_today} trades today; max_trades_per_day is {limits.max_trades_per_day}"
        )
    position_value = ctx.position_quantity * ctx.price + notional
    cap = limits.position_fraction * ctx.equity
    if position_value > cap:
        return _reject(
            f"position in {intent.symbol} would be {position_value:.2f}, above "
            f"position_fraction {limits.position_fraction:g} of equity {ctx.equity:.2f} "
            f"({cap:.2f})"
        )
    cost = notional * (1.0 + ctx.taker_fee) * (1.0 + ctx.slippage_reserve)
    if cost > ctx.cash:
        return _reject(
            f"needs {cost:.2f} cash with fees and slippage reserve, {ctx.cash:.2f} available"
            " (cash committed to working limit buys excluded)"
        )
    return RiskDecision(True, f"accepted: notional {notional:.2f}")


def _check_exit(intent: OrderIntent, ctx: RiskContext) -> RiskDecision:
    if intent.side != "sell":
        return _reject("closing a short is not supported on a spot account")
    if ctx.position_quantity <= 0:
        return _reject(f"no open position in {intent.symbol} to close")
    return RiskDecision(True, "accepted: exit")


def drawdown(equity: float, peak: float) -> float:
    """Fraction lost from the peak (0 at or above the peak)."""
    if peak <= 0:
        return 0.0
    return max(0.0, 1.0 - equity / peak)


def drawdown_breached(equity: float, peak: float, max_drawdown_pct: float) -> bool:
    # The tolerance keeps an exact 20 % loss (1 - 0.8 = 0.19999...) a breach of a 20 % limit.
    return drawdown(equity, peak) >= max_drawdown_pct - 1e-12
