"""The equity curve from the ledger's fills, kept up to date incrementally.

Equity after each fill = cash in the quote currency + every position valued at the last fill
price of its symbol. The cash before the first fill is what the account holds now minus
what the fills moved (so a paper seed and a testnet balance both work); the fill rule is the
ledger's own (``Portfolio.apply_fill``): a buy spends ``quantity * price``, a sell receives
it, a fee in the base currency reduces the position, any other fee the cash.

``EquityCurve.update`` consumes only fills newer than the last one it saw: a page asking for
the curve costs the new fills, not the history. Charts get at most ``max_points`` points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class FillFlow:
    """What one fill does to cash and holdings (a row of the fills table)."""

    id: int
    event_time: datetime
    symbol: str
    side: str
    quantity: float
    price: float
    fee: float
    fee_currency: str | None


def cash_delta(flow: FillFlow) -> float:
    """The quote cash a fill moves (its fee included when not paid in the base currency)."""
    signed = flow.quantity if flow.side == "buy" else -flow.quantity
    fee = 0.0 if flow.fee_currency == flow.symbol.split("/", 1)[0] else flow.fee
    return -signed * flow.price - fee


def holding_delta(flow: FillFlow) -> float:
    signed = flow.quantity if flow.side == "buy" else -flow.quantity
    fee = flow.fee if flow.fee_currency == flow.symbol.split("/", 1)[0] else 0.0
    return signed - fee


def drawdowns(equity: list[float]) -> list[float]:
    """The fraction below the running peak at each point (0 at a new high)."""
    peak = -math.inf
    out = []
    for value in equity:
        peak = max(peak, value)
        out.append(0.0 if peak <= 0 else (peak - value) / peak)
    return out


def sample_indices(length: int, max_points: int) -> list[int]:
    """At most ``max_points`` indices into a series of ``length`` points, evenly spread,
    the first and the last always kept."""
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2 (got {max_points})")
    if length <= max_points:
        return list(range(length))
    step = (length - 1) / (max_points - 1)
    return [round(i * step) for i in range(max_points)]


def downsample(points: Sequence[T], max_points: int) -> list[T]:
    return [points[i] for i in sample_indices(len(points), max_points)]


@dataclass
class EquityCurve:
    """Equity after every fill so far; ``update`` appends the new fills' points."""

    last_fill_id: int = 0
    flows_total: float = 0.0
    holdings: dict[str, float] = field(default_factory=dict)
    prices: dict[str, float] = field(default_factory=dict)
    # (time, cash moved so far, positions value) after each fill.
    steps: list[tuple[datetime, float, float]] = field(default_factory=list)

    def update(self, flows: list[FillFlow]) -> None:
        for flow in flows:
            if flow.id <= self.last_fill_id:
                continue
            self.flows_total += cash_delta(flow)
            self.holdings[flow.symbol] = self.holdings.get(flow.symbol, 0.0) + holding_delta(flow)
            self.prices[flow.symbol] = flow.price
            value = sum(q * self.prices[s] for s, q in self.holdings.items())
            self.steps.append((flow.event_time, self.flows_total, value))
            self.last_fill_id = flow.id

    def points(self, cash_now: float) -> list[tuple[datetime, float]]:
        """Equity after each fill, given the cash the account holds now."""
        start_cash = cash_now - self.flows_total
        return [(at, start_cash + moved + value) for at, moved, value in self.steps]
