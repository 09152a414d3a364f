"""The strategy instances the live asset evaluates in one run (``strategy/order_intents``).

Without a ``strategies:`` list the single strategy of ``StrategyResource`` is the one
instance ``default``, evaluated exactly as before instances existed: every series of its
timeframe, sized by ``risk.position_fraction`` of the account, the configured default
stop / take-profit fractions, and the intent ids it always had
(``executor.intents.make_intent_id`` leaves ``default`` out of the key).

With a list, each enabled instance runs on its own exchange, symbols, timeframe and
parameters. Its intents name it (``OrderIntent.instance``, and ``reasons.instance``) and
carry what the executor's risk protocol sizes them from (``executor.protocol_gate``): the
strategy's own stop / take-profit only (the protocol sets the rest from the instance's risk
profile, as the portfolio backtester does), ``reasons.size_fraction`` and, for an ATR stop,
``reasons.atr`` (Wilder's ATR of the profile's period on the bars known at the close). The
notional the asset writes is a placeholder share (``risk.position_fraction`` of the
instance's allocated share of the account's equity): the protocol replaces it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from trading_core.config_portfolio import DEFAULT_INSTANCE, InstanceConfig
from trading_core.strategies import Strategy, get_strategy

# A Wilder average forgets its seed to 1e-9 after this many periods (base.py's tolerance).
WARMUP_TOLERANCE = 1e-9


@dataclass(frozen=True)
class InstanceSizing:
    """``assets.strategy.SizingSettings`` for one instance of a portfolio."""

    name: str
    params: dict[str, Any]
    position_fraction: float
    stop_loss_pct: float | None
    take_profit_pct: float | None
    trailing_stop_pct: float | None


@dataclass(frozen=True)
class InstancePlan:
    """One instance as the asset evaluates it."""

    id: str
    strategy: Strategy
    sizing: Any  # SizingSettings (the resource itself for `default`)
    timeframe: str
    # (exchange, symbol) pairs it trades; None: every series of its timeframe (`default`)
    series: frozenset[tuple[str, str]] | None
    allocation: float = 1.0
    atr_period: int | None = None
    configured_lookback: int = 0
    protocol: bool = False  # a `strategies:` instance: the executor's protocol sizes it

    def trades(self, exchange: str, symbol: str, timeframe: str) -> bool:
        if timeframe != self.timeframe:
            return False
        return self.series is None or (exchange, symbol) in self.series


def atr_lookback(period: int) -> int:
    """Bars for Wilder's ATR(``period``) to be its full-history value bit for bit: twice the
    bars it needs to forget its seed to 1e-9 (``evaluation_lookback``'s rule), plus the seed."""
    forget = (
        math.ceil(math.log(WARMUP_TOLERANCE) / math.log(1.0 - 1.0 / period)) if period > 1 else 1
    )
    return 2 * forget + period + 2


def plans(resource: Any) -> list[InstancePlan]:
    """The instances of a ``StrategyResource``: its ``instances`` (validated again here: a
    resource built by hand gets the configuration's errors), else the one ``default``."""
    if not resource.instances:
        return [
            InstancePlan(
                id=DEFAULT_INSTANCE,
                strategy=resource.build(),
                sizing=resource,
                timeframe=resource.timeframe,
                series=None,
                configured_lookback=resource.lookback_bars,
            )
        ]
    out = []
    for raw in resource.instances:
        inst = InstanceConfig.model_validate(raw)
        if not inst.enabled:
            continue
        out.append(instance_plan(inst, resource.lookback_bars))
    return out


def instance_plan(inst: InstanceConfig, configured_lookback: int = 0) -> InstancePlan:
    risk = inst.resolved_risk()
    return InstancePlan(
        id=inst.id,
        strategy=get_strategy(inst.strategy, dict(inst.params)),
        sizing=InstanceSizing(
            name=inst.strategy,
            params=dict(inst.params),
            position_fraction=risk.position_fraction,
            stop_loss_pct=None,
            take_profit_pct=None,
            trailing_stop_pct=risk.trailing_stop_pct,
        ),
        timeframe=inst.timeframe,
        series=frozenset((inst.exchange, s) for s in inst.symbols),
        allocation=inst.allocation,
        atr_period=risk.atr_period if risk.stop == "atr" else None,
        configured_lookback=configured_lookback,
        protocol=True,
    )
