"""The Instances view: one row per strategy instance, with its positions and today's P&L.

The rows are the configured instances (``trading_core.config_portfolio.instances_of``: the
``strategies:`` list, else ``default``), then every instance that holds a position or
traded today without being configured (one removed from the list, or ``manual``): a
position never vanishes from the cockpit because its instance left the configuration.

Today's P&L of an instance is marked to market the way the account's is (``equity``): the
quote cash its fills moved since UTC midnight, plus what it holds now at the executor's
last prices, minus what it held at midnight at the last fill price before midnight. The
instances' P&L therefore sums to the account's. A fill that names no instance (recorded
outside an order) counts for ``default``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from executor import schema
from executor.ledger import Ledger
from executor.records import QTY_EPSILON, Position
from trading_core.config import TradingConfig
from trading_core.config_portfolio import DEFAULT_INSTANCE, MANUAL_INSTANCE, instances_of
from trading_pipelines.cockpit.equity import FillFlow, cash_delta, holding_delta
from trading_pipelines.cockpit.ledger_reader import fill_flow_columns


@dataclass(frozen=True)
class Held:
    """What one instance holds in one symbol now, valued at the executor's last price."""

    instance: str
    symbol: str
    quantity: float
    value: float


def today_pnl(
    held_now: Iterable[Held],
    today: Iterable[tuple[str, FillFlow]],
    price_before_midnight: Mapping[str, float],
) -> dict[str, float]:
    """Each instance's P&L since midnight (pure): ``today`` are its fills since then
    (instance, fill), ``price_before_midnight`` the last fill price of each symbol before."""
    moved: dict[str, float] = defaultdict(float)
    value_now: dict[str, float] = defaultdict(float)
    holdings: dict[tuple[str, str], float] = defaultdict(float)
    for h in held_now:
        value_now[h.instance] += h.value
        holdings[(h.instance, h.symbol)] += h.quantity
    for instance, flow in today:
        moved[instance] += cash_delta(flow)
        holdings[(instance, flow.symbol)] -= holding_delta(flow)  # back to midnight
    value_then: dict[str, float] = defaultdict(float)
    for (instance, symbol), quantity in holdings.items():
        if abs(quantity) > QTY_EPSILON:
            value_then[instance] += quantity * price_before_midnight.get(symbol, 0.0)
    names = set(moved) | set(value_now) | set(value_then)
    return {i: moved[i] + value_now[i] - value_then[i] for i in names}


def read_today_pnl(
    ledger: Ledger, subs: Sequence[Position], quote: str, midnight: datetime
) -> dict[str, float]:
    """``today_pnl`` over the ledger: the applied fills in ``quote`` since ``midnight``."""
    f = schema.fills
    quoted = f.c.symbol.like(f"%/{quote}")
    held = [
        Held(p.instance_id, p.symbol, p.quantity, p.market_value)
        for p in subs
        if p.symbol.endswith(f"/{quote}") and abs(p.quantity) > QTY_EPSILON
    ]
    # No ORDER BY id: SQLite would then walk every fill instead of the time index.
    query = sa.select(f.c.instance_id, *fill_flow_columns()).where(
        f.c.event_time >= midnight, f.c.applied.is_(True), quoted
    )
    with ledger.engine.connect() as conn:
        today = [(r[0] or DEFAULT_INSTANCE, FillFlow(*r[1:])) for r in conn.execute(query)]
        prices: dict[str, float] = {}
        for symbol in sorted({h.symbol for h in held} | {flow.symbol for _, flow in today}):
            price = conn.execute(
                sa.select(f.c.price)
                .where(f.c.symbol == symbol, f.c.event_time < midnight, f.c.applied.is_(True))
                .order_by(f.c.event_time.desc())  # the index backwards, to the first match
                .limit(1)
            ).scalar()
            prices[symbol] = float(price) if price is not None else 0.0
    return today_pnl(held, today, prices)


@dataclass(frozen=True)
class InstanceState:
    """What the rows need besides the configuration and the ledger's positions."""

    executor_status: str  # running | stale | stopped | never started
    trading_state: str  # ACTIVE | REDUCING | HALTED
    paused: Mapping[str, dict[str, Any]]  # instance -> its active pause (by, why, until)
    phases: Mapping[str, str]  # instance -> losing-streak phase
    tier: int | None  # 1-based; None: the risk protocol is off
    tier_text: str


def _position(p: Position) -> dict[str, Any]:
    return {
        "symbol": p.symbol,
        "exchange": p.exchange,
        "quantity": p.quantity,
        "avg_entry_price": p.avg_entry_price,
        "last_price": p.last_price,
        "unrealized_pnl": p.unrealized_pnl,
        "realized_pnl": p.realized_pnl_net,
    }


def instance_rows(
    config: TradingConfig,
    open_subs: Sequence[Position],
    today: Mapping[str, float],
    state: InstanceState,
) -> list[dict[str, Any]]:
    """The rows (pure): configured instances first, in the configuration's order."""
    by_instance: dict[str, list[Position]] = defaultdict(list)
    for p in open_subs:
        by_instance[p.instance_id].append(p)
    rows: list[dict[str, Any]] = []
    configured = instances_of(config)
    for inst in configured:
        rows.append(
            {
                "instance": inst.id,
                "configured": True,
                "strategy": inst.strategy,
                "timeframe": inst.timeframe,
                "pairs": list(inst.symbols),
                "exchange": inst.exchange,
                "risk_profile": inst.risk_profile,
                "allocation": inst.allocation,
            }
        )
    known = {r["instance"] for r in rows}
    extra = sorted((set(by_instance) | {i for i, v in today.items() if v}) - known)
    for instance in extra:
        subs = by_instance.get(instance, [])
        rows.append(
            {
                "instance": instance,
                "configured": False,
                "strategy": next((p.strategy for p in subs if p.strategy), None),
                "timeframe": None,
                "pairs": sorted({p.symbol for p in subs}),
                "exchange": ", ".join(sorted({p.exchange for p in subs})) or None,
                "risk_profile": None,
                "allocation": None,
            }
        )
    for row in rows:
        instance = row["instance"]
        subs = by_instance.get(instance, [])
        pause = state.paused.get(instance)
        if pause is not None:
            status = "paused"
        elif row["configured"] or instance == MANUAL_INSTANCE:
            status = state.executor_status
        else:
            status = "not configured"
        row.update(
            mode=config.executor.mode,
            positions=[_position(p) for p in subs],
            unrealized_pnl=sum(p.unrealized_pnl for p in subs),
            today_pnl=today.get(instance, 0.0),
            risk_level=state.trading_state,
            streak_phase=state.phases.get(instance, "normal"),
            tier=state.tier,
            tier_text=state.tier_text,
            status=status,
            paused=pause,
        )
    return rows
