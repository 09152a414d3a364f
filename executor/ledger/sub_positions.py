"""Sub-positions: each strategy instance's share of one exchange position.

Two instances may hold the same symbol on one exchange account. The ledger keeps one row per
(exchange, symbol, instance); the exchange sees only their sum. Reconciliation, the account's
equity and the native backstop work on the sum (``combine``); attribution (P&L, protective
exits, trade counts, ``close-position``) on the sub-positions.

A fill that names no instance (a native backstop order sold the whole exchange position) is
shared among the open sub-positions it reduces, pro rata to their size (``split_fill``).

The combined position's protective levels are the ones that protect every open share: the
lowest stop-loss, the highest take-profit and the widest trailing stop, each only when every
open sub-position has one (a backstop must never sell a share its owner left unprotected
earlier than that owner would).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from executor.records import QTY_EPSILON, Fill, Position

# The instance id of a combined position held by several instances.
SEVERAL_INSTANCES = "*"


def _all_or_none(values: list[float | None], lowest: bool) -> float | None:
    """The lowest (or highest) of ``values`` when every one is set, else None."""
    if not values or any(v is None for v in values):
        return None
    present = [v for v in values if v is not None]
    return min(present) if lowest else max(present)


def combine(subs: Sequence[Position]) -> Position:
    """The exchange position of one (exchange, symbol): the sum of its sub-positions.

    One sub-position is returned as it is. Raises ``ValueError`` for none, or for rows of
    different exchanges or symbols.
    """
    if not subs:
        raise ValueError("combine needs at least one sub-position")
    if len({(p.exchange, p.symbol) for p in subs}) != 1:
        raise ValueError(
            "sub-positions of different exchanges or symbols: "
            f"{sorted({f'{p.exchange}:{p.symbol}' for p in subs})}"
        )
    if len(subs) == 1:
        return subs[0]
    quantity = sum(p.quantity for p in subs)
    open_subs = [p for p in subs if abs(p.quantity) > QTY_EPSILON]
    cost = sum(p.quantity * p.avg_entry_price for p in open_subs)
    latest = max(subs, key=lambda p: p.updated_at)
    opened = [p for p in open_subs if p.opened_at is not None]
    first = min(opened, key=lambda p: p.opened_at or latest.updated_at) if opened else None
    strategies = {p.strategy for p in open_subs}
    instances = sorted({p.instance_id for p in open_subs})
    return Position(
        exchange=subs[0].exchange,
        symbol=subs[0].symbol,
        quantity=quantity,
        avg_entry_price=cost / quantity if abs(quantity) > QTY_EPSILON else 0.0,
        realized_pnl_gross=sum(p.realized_pnl_gross for p in subs),
        realized_pnl_net=sum(p.realized_pnl_net for p in subs),
        fees_quote=sum(p.fees_quote for p in subs),
        last_price=latest.last_price,
        strategy=strategies.pop() if len(strategies) == 1 else None,
        stop_loss=_all_or_none([p.stop_loss for p in open_subs], lowest=True),
        take_profit=_all_or_none([p.take_profit for p in open_subs], lowest=False),
        trailing_stop_pct=_all_or_none([p.trailing_stop_pct for p in open_subs], lowest=False),
        high_water=max((p.high_water for p in open_subs if p.high_water), default=None),
        entry_intent_id=first.entry_intent_id if first else None,
        opened_at=first.opened_at if first else None,
        updated_at=latest.updated_at,
        instance_id=instances[0] if len(instances) == 1 else SEVERAL_INSTANCES,
    )


def split_fill(fill: Fill, subs: Sequence[Position], fallback: str) -> list[Fill]:
    """The per-instance fills of a fill that names no instance.

    A fill reducing open sub-positions (a sell against longs) is shared pro rata to their
    size, the fee too; any excess over their total (a flip) goes to the largest one. With no
    open sub-position on the other side the whole fill is ``fallback``'s (the only open
    instance, else ``fallback``).
    """
    if fill.instance_id is not None:
        return [fill]
    sign = -1.0 if fill.side == "sell" else 1.0
    reduced = [p for p in subs if abs(p.quantity) > QTY_EPSILON and p.quantity * sign < 0]
    if not reduced:
        held = [p for p in subs if abs(p.quantity) > QTY_EPSILON]
        owner = held[0].instance_id if len(held) == 1 else fallback
        return [dataclasses.replace(fill, instance_id=owner)]
    if len(reduced) == 1:
        return [dataclasses.replace(fill, instance_id=reduced[0].instance_id)]
    total = sum(abs(p.quantity) for p in reduced)
    covered = min(fill.quantity, total)
    largest = max(reduced, key=lambda p: (abs(p.quantity), p.instance_id))
    parts: list[Fill] = []
    for p in sorted(reduced, key=lambda p: p.instance_id):
        quantity = covered * abs(p.quantity) / total
        if p is largest:
            quantity += fill.quantity - covered
        parts.append(
            dataclasses.replace(
                fill,
                quantity=quantity,
                fee=fill.fee * quantity / fill.quantity,
                instance_id=p.instance_id,
            )
        )
    return parts
