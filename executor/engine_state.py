"""What every room of the executor's tick shares: the engine's options, the tick's report,
the engine's state (declared here, set by ``Engine.__init__``) and the market clock.

The rooms (``engine_orders``, ``engine_positions``, ``engine_commands``,
``engine_intent_flow``) are built on ``EngineState``, each on the rooms it calls, and
``executor.engine.Engine`` joins them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from executor.admission import IntentLimits
from executor.backstop import Backstop
from executor.brokers.base import Broker
from executor.engine_alerts import EngineAlerts
from executor.intents import OrderIntent
from executor.lease import Lease
from executor.ledger import Ledger
from executor.protocol_gate import ProtocolGate
from executor.throttle import OrderThrottle
from executor.trading_state import TradingState
from trading_core.config import TradingConfig
from trading_core.market.base import MarketSource


@dataclass(frozen=True)
class EngineOptions:
    """How the engine works orders (timeouts and limits that are not risk limits)."""

    limit_timeout_seconds: float = 300.0
    max_reprices: int = 3
    # An unanswered order is queried only once this old, so a request still travelling
    # cannot race the query; after max_unknown_lookups "not found" answers it is given up.
    unknown_order_grace_seconds: float = 10.0
    max_unknown_lookups: int = 5
    intents_per_tick: int = 200
    protective_timeframe: str = "1m"
    # Send limit entries post-only (maker or nothing).
    post_only_limits: bool = False

    def __post_init__(self) -> None:
        for name in ("limit_timeout_seconds", "unknown_order_grace_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("max_unknown_lookups", "intents_per_tick"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_reprices < 0:
            raise ValueError(f"max_reprices must be >= 0, got {self.max_reprices}")


@dataclass
class TickReport:
    tick: int
    started_at: datetime
    trading_state: TradingState = TradingState.ACTIVE
    commands_applied: int = 0
    intents_seen: int = 0
    intents_rejected: int = 0
    orders_submitted: int = 0
    fills_recorded: int = 0
    protective_exits: int = 0
    intents_delayed: int = 0  # entries held back by the order-rate throttle
    errors: list[str] = field(default_factory=list)


class EngineState:
    """The engine's state, as ``Engine.__init__`` sets it, and its market clock."""

    ledger: Ledger
    broker: Broker
    market: MarketSource
    config: TradingConfig
    options: EngineOptions
    reconciler: Callable[[], bool] | None
    publisher: Callable[[], object] | None
    _clock: Callable[[], datetime]
    _market_clock: Callable[[], datetime] | None
    lease: Lease | None
    alerts: EngineAlerts
    mode: str
    limits: IntentLimits
    markets: frozenset[str]
    throttle: OrderThrottle
    replay: bool
    _market_now: datetime | None
    _checked_until: dict[str, datetime]
    ticks: int
    last_report: TickReport | None
    backstop: Backstop
    protocol: ProtocolGate | None

    # ------------------------------------------------------------------------------ time

    def market_now(self) -> datetime:
        if self._market_clock is not None:
            return max(self._market_clock(), self._market_now or datetime.min)
        if self.replay:
            return self._market_now or self._clock()
        return self._clock()

    def _market_at(self, intent: OrderIntent | None) -> datetime | None:
        """The moment the broker should read the market at: None means now."""
        if not self.replay:
            return None
        return intent.decided_at if intent else self.market_now()
