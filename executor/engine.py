"""The executor's tick: everything between an intent in the ledger and a fill in the ledger.

One tick, in this order (each step commits its own ledger transactions):

1. operator commands (pause, resume, halt, close-all, close-position), oldest first;
2. the trading state, read from the ledger;
3. reconciliation with the exchange, on the first tick and every ``reconcile_every_ticks``;
4. orders whose submit outcome is unknown: queried by client order id, never resubmitted;
5. working orders: polled for fills; unfilled limit orders past their timeout are canceled
   and repriced (a new attempt, a new client order id);
6. protective exits (stop-loss, take-profit, trailing stop) checked on the candles since the
   last tick, and positions marked to market;
7. the drawdown limit from peak equity (breach: HALTED);
8. new intents: admission (market, clock, age, price drift), risk gate, exchange rules,
   order row, submit;
9. publishing of new fills and order events (failures never stop trading).

Nothing that comes in can stop the loop: an exception in one step is logged and the next step
still runs (the stop watcher included); an exception while handling one intent marks that
intent FAILED with the reason and the others go on. Only a lost ledger lease stops the engine
(``LeaseLost``): another executor owns the ledger, so this one must place nothing more.
Every order submission checks the lease's fencing token first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from executor.admission import IntentLimits
from executor.backstop import Backstop
from executor.brokers.base import (
    Broker,
    BrokerError,
)
from executor.engine_alerts import EngineAlerts
from executor.engine_commands import EngineCommands
from executor.engine_intent_flow import EngineIntentFlow
from executor.engine_state import EngineOptions, TickReport

__all__ = ["Engine", "EngineOptions", "StartupRefused", "TickReport"]
from executor.lease import Lease, LeaseLost
from executor.ledger import Ledger
from executor.orders import OrderState
from executor.protocol_gate import AlertSender, ProtocolGate, protocol_enabled
from executor.throttle import OrderThrottle
from trading_core.config import TradingConfig
from trading_core.market.base import MarketSource
from trading_core.timeframes import utc_now

log = logging.getLogger("executor.engine")


class StartupRefused(RuntimeError):
    """The executor will not trade (live mode with a failed reconciliation)."""


class Engine(EngineCommands, EngineIntentFlow):
    """Turns intents into orders and keeps the ledger in step with the broker.

    The tick's rooms are classes of their own modules, each built on the ones it uses:
    ``engine_state`` (the shared state and the market clock), ``engine_orders`` (submit,
    in-flight, working orders, reprices), ``engine_positions`` (protective exits, drawdown,
    the protocol's observation), ``engine_commands`` (operator commands) and
    ``engine_intent_flow`` (new intents and closes). This class builds the state, starts up
    and runs the tick."""

    def __init__(
        self,
        ledger: Ledger,
        broker: Broker,
        market: MarketSource,
        config: TradingConfig,
        options: EngineOptions | None = None,
        *,
        reconciler: Callable[[], bool] | None = None,
        publisher: Callable[[], object] | None = None,
        clock: Callable[[], datetime] = utc_now,
        lease: Lease | None = None,
        market_clock: Callable[[], datetime] | None = None,
        alert: AlertSender | None = None,
    ):
        self.ledger = ledger
        self.broker = broker
        self.market = market
        self.config = config
        self.options = options or EngineOptions()
        self.reconciler = reconciler
        self.publisher = publisher
        self._clock = clock
        # A replay played forward as if live (trading_core.market.clock): the market's "now"
        # moves with it, so stops are watched as the market moves, not only at new intents.
        self._market_clock = market_clock
        self.lease = lease
        self.alerts = EngineAlerts(alert, config)  # the executor's own events (engine_alerts)
        self.mode = config.executor.mode
        self.limits = IntentLimits.from_config(config.executor)
        self.markets = frozenset(config.market.symbols)
        self.throttle = OrderThrottle(
            config.executor.max_orders_per_second, config.executor.max_orders_per_minute
        )
        # A replayed market, or one viewed as of a fixed instant (market.as_of), has no live
        # clock: the broker reads it at each intent's decision time, and "now" for working
        # orders is the latest decision time seen.
        self.replay = getattr(market, "name", "") == "replay" or config.market.as_of is not None
        self._market_now: datetime | None = None
        self._checked_until: dict[str, datetime] = {}
        self.ticks = 0
        self.last_report: TickReport | None = None
        # Native protective orders behind the executor's own stops (executor.backstop).
        self.backstop = Backstop(
            ledger, broker, config, lease=lease, market_at=lambda: self._market_at(None)
        )
        # The risk protocol, for a portfolio of instances (executor.protocol_gate).
        self.protocol = (
            ProtocolGate(ledger, config, alert=alert) if protocol_enabled(config) else None
        )

    # --------------------------------------------------------------------------- start-up

    def start(self) -> bool:
        """Seed the paper account, resume paper orders and reconcile once.

        Returns whether reconciliation passed. Live mode refuses to start when it did not.
        """
        ex = self.config.executor
        if self.mode == "paper":
            self.ledger.ensure_account(self.broker.exchange, ex.quote_currency, ex.starting_cash)
            restore = getattr(self.broker, "restore", None)
            if restore is not None:
                restore(self.ledger.orders([OrderState.OPEN, OrderState.PARTIALLY_FILLED]))
        try:
            ok = self.reconciler() if self.reconciler else True
        except BrokerError as exc:
            if self.mode != "paper":
                raise StartupRefused(
                    f"{self.mode} trading refused: the exchange {self.broker.exchange!r} cannot "
                    f"be reached for start-up reconciliation: {exc}"
                ) from exc
            raise
        if not ok and self.mode != "paper":
            raise StartupRefused(
                f"{self.mode} trading refused: start-up reconciliation with the exchange "
                "failed (see the audit log and the HALTED reason)"
            )
        if self.protocol is not None:
            self.protocol.start(self._equity(), self.market_now())
        self.ledger.audit(
            "executor",
            "started",
            self.mode,
            {"mode": self.mode, "exchange": self.broker.exchange, "reconciled": ok},
        )
        return ok

    # ------------------------------------------------------------------------------ tick

    def tick(self) -> TickReport:
        self.ticks += 1
        report = TickReport(self.ticks, self._clock())
        if self.lease is not None:
            self.lease.check()  # LeaseLost: another executor owns the ledger now
        fills_before = self.ledger.fill_count()
        began = self.alerts.tick_started()
        steps: list[tuple[str, Callable[[TickReport], None]]] = [
            ("commands", self._apply_commands),
            ("reconcile", self._reconcile_if_due),
            ("in_flight", self._resolve_in_flight),
            ("working", self._work_orders),
            ("protection", self._watch_positions),
            ("drawdown", self._check_drawdown),
            ("protocol", self._observe_protocol),
            ("intents", self._process_intents),
            ("publish", self._publish),
        ]
        for name, step in steps:
            try:
                step(report)
            except LeaseLost:
                raise
            except BrokerError as exc:
                # The exchange is unreachable or unhappy: log it, the next tick retries.
                report.errors.append(f"{name}: {exc}")
                log.warning("tick step failed", extra={"step": name, "error": str(exc)})
                self.alerts.step_failed(name, exc, report.errors[-1], report.started_at)
            except Exception as exc:  # a bug or a full disk: the other steps still run
                report.errors.append(f"{name}: {exc!r}")
                log.exception("tick step crashed", extra={"step": name})
                self.alerts.step_failed(name, exc, report.errors[-1], report.started_at)
        try:
            report.trading_state = self.ledger.trading_state()
            report.fills_recorded = self.ledger.fill_count() - fills_before
        except Exception as exc:
            report.errors.append(f"report: {exc!r}")
        self.alerts.tick_done(began, report, self.ledger, fills_before)
        self.last_report = report
        return report

    # ------------------------------------------------------------------------ publish

    def _publish(self, report: TickReport) -> None:
        if self.publisher is None:
            return
        try:
            self.publisher()
        except Exception as exc:  # publishing must never stop trading
            report.errors.append(f"publish: {exc}")
            log.warning("publishing failed", extra={"error": str(exc)})
            self.alerts.publish_failed(exc, report.started_at)
