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

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from executor import override_ledger, schema
from executor.admission import IntentLimits, admit
from executor.backstop import Backstop
from executor.brokers.base import (
    Broker,
    BrokerError,
    BrokerUnavailable,
    OrderRejected,
    OrderSnapshot,
    SubmitOutcomeUnknown,
)
from executor.engine_alerts import EngineAlerts
from executor.exits import PROTOCOL_EXIT_ROLES, minimums, plan_for, watched
from executor.intents import OrderIntent
from executor.lease import Lease, LeaseLost
from executor.ledger import IntentRecord, Ledger, OperatorCommand
from executor.orders import LIVE_STATES, OrderState, client_order_id
from executor.overrides import STATE_COMMANDS
from executor.protocol_gate import AlertSender, ProtocolGate, protocol_enabled, sub_key
from executor.records import QTY_EPSILON, NewOrder, OrderRecord, OrderUpdate, Position
from executor.risk import RiskContext, check_intent, drawdown, drawdown_breached
from executor.sizing import (
    OrderNotPlaceable,
    entry_quantity,
    exit_quantity,
    floor_quantity,
    is_dust,
    round_limit_price,
)
from executor.throttle import OrderThrottle
from executor.trading_state import TradingState
from trading_core.config import TradingConfig
from trading_core.config_portfolio import DEFAULT_INSTANCE
from trading_core.fills import intrabar_exit, trailing_stop_level
from trading_core.market.base import MarketSource
from trading_core.position_sizing import all_in_quantity, exit_levels
from trading_core.protocol.exits import ExitOrder, ExitPlan, at_close, intrabar
from trading_core.protocol.gate import EntryDecision
from trading_core.timeframes import timeframe_delta, utc_now

log = logging.getLogger("executor.engine")

EXIT_ROLES: frozenset[str] = (
    frozenset(
        {
            "exit",
            "stop_loss",
            "take_profit",
            "trailing_stop",
            "operator",
            "preservation",
            "force_exit",
        }
    )
    | PROTOCOL_EXIT_ROLES
)


class StartupRefused(RuntimeError):
    """The executor will not trade (live mode with a failed reconciliation)."""


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


class Engine:
    """Turns intents into orders and keeps the ledger in step with the broker."""

    def __init__(
        self,
        ledger: Ledger,
        broker: Broker,
        market: MarketSource,
        config: TradingConfig,
        options: EngineOptions = EngineOptions(),
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
        self.options = options
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

    # ------------------------------------------------------------------ operator commands

    def _apply_commands(self, report: TickReport) -> None:
        for command in self.ledger.commands(pending_only=True):
            result = self._apply_command(command)
            self.ledger.mark_command_applied(command.id, result)
            report.commands_applied += 1
            log.info(
                "operator command applied",
                extra={"command": command.command, "who": command.who, "result": result},
            )

    def _apply_command(self, command: OperatorCommand) -> str:
        """One command's result. A command the executor cannot carry out is refused with
        the reason (never retried for ever: it would hold back every command after it); an
        unreachable exchange (``BrokerError``) leaves it pending for the next tick."""
        try:
            actor = f"operator:{command.who}"
            why = command.why
            state = self.ledger.trading_state()
            if command.command in STATE_COMMANDS:
                tier = self.protocol.state.tier.index if self.protocol is not None else None
                outcome = override_ledger.apply_command(self.ledger, self.config, command, tier)
                if outcome.cancel_symbol or outcome.cancel_instance:
                    canceled = self._cancel_entries(
                        outcome.cancel_symbol, instance=outcome.cancel_instance
                    )
                    return f"{outcome.result}; canceled {canceled} working entry order(s)"
                return outcome.result
            if command.command == "force-exit":
                symbol = command.symbol or ""
                instance = command.args.get("instance")
                canceled = self._cancel_entries(symbol, instance=instance)
                exited = self._close_position(symbol, command, role="force_exit", instance=instance)
                return f"{symbol}: {exited}; canceled {canceled} working entry order(s)"
            if command.command == "pause":
                if state == TradingState.HALTED:
                    return "already HALTED: pause does not loosen a halt (resume first)"
                self.ledger.set_trading_state(TradingState.REDUCING, f"paused: {why}", actor)
                return "REDUCING: exits only"
            if command.command == "resume":
                equity = self._equity()
                self.ledger.set_trading_state(TradingState.ACTIVE, f"resumed: {why}", actor)
                self.ledger.update_peak_equity(equity, reset=True)
                return f"ACTIVE; drawdown peak reset to equity {equity:.2f}"
            if command.command == "halt":
                self.ledger.set_trading_state(TradingState.HALTED, f"halted: {why}", actor)
                canceled = self._cancel_entries(None)
                return f"HALTED; canceled {canceled} working entry order(s)"
            if command.command == "review":
                instance = command.args.get("instance")
                try:
                    if instance is None:  # capital preservation
                        return self.protocol_review(command.who)
                    if self.protocol is None:  # an instance's losing-streak demotion
                        raise ValueError("the risk protocol is off (no strategies: list)")
                    row = self.protocol.review_instance(
                        str(instance), self.market_now(), command.who
                    )
                    return f"reviewed: {row['kind']} {json.dumps(row['detail'], sort_keys=True)}"
                except ValueError as exc:
                    return f"refused: {exc}"
            if command.command == "close-position":
                symbol = command.symbol or ""
                canceled = self._cancel_entries(symbol)
                return (
                    f"{symbol}: {self._close_position(symbol, command)}; canceled {canceled} "
                    "working entry order(s)"
                )
            if command.command != "close-all":
                return f"refused: unknown command {command.command!r}"
            # close-all: no new entries afterwards (a halt stays a halt).
            if state == TradingState.ACTIVE:
                self.ledger.set_trading_state(TradingState.REDUCING, f"close-all: {why}", actor)
            canceled = self._cancel_entries(None)
            closed = [
                f"{p.symbol}: {self._close_position(p.symbol, command)}" for p in self._positions()
            ]
            return "; ".join([*closed, f"canceled {canceled} working entry order(s)"])
        except (LeaseLost, BrokerError):
            raise
        except Exception as exc:
            log.exception("operator command failed", extra={"command": command.command})
            return f"failed: {type(exc).__name__}: {exc}"

    def _close_position(
        self,
        symbol: str,
        command: OperatorCommand,
        *,
        role: str = "operator",
        instance: str | None = None,
    ) -> str:
        """Close every instance's sub-position in ``symbol`` (one exit order each), or only
        ``instance``'s. A force-exit (role ``force_exit``) leaves a sub-position whose exit
        is already working alone (it would sell twice)."""
        subs = [
            p
            for p in self._positions()
            if p.symbol == symbol and p.quantity > 0 and instance in (None, p.instance_id)
        ]
        if not subs:
            return "no open position" + (f" of instance {instance}" if instance else "")
        exiting = {
            o.instance_id
            for o in self.ledger.orders(LIVE_STATES, symbol=symbol)
            if o.role in EXIT_ROLES
        }
        results = []
        for position in subs:
            key = (
                symbol
                if position.instance_id == DEFAULT_INSTANCE
                else (f"{symbol}|{position.instance_id}")
            )
            source = f"op{command.id}" + hashlib.sha1(key.encode()).hexdigest()[:8]
            cid = client_order_id(source, role)
            if self.ledger.order(cid) is not None:
                results.append(f"exit {cid} already placed")
                continue
            if role == "force_exit" and position.instance_id in exiting:
                results.append("an exit is already working")
                continue
            order = self._place_exit(
                position, role, cid, reason=f"operator {command.command} by {command.who}"
            )
            results.append(
                f"exit {order.client_order_id} {order.state}" if order else "exit not placeable"
            )
        if len(subs) == 1:
            return results[0]
        return ", ".join(f"{p.instance_id}: {r}" for p, r in zip(subs, results, strict=True))

    def _cancel_entries(self, symbol: str | None, *, instance: str | None = None) -> int:
        """Cancel the working entry orders (of ``symbol``, of ``instance``; None: all)."""
        canceled = 0
        for order in self.ledger.orders(
            [OrderState.OPEN, OrderState.PARTIALLY_FILLED], symbol=symbol
        ):
            if order.role == "entry" and instance in (None, order.instance_id or DEFAULT_INSTANCE):
                self._apply(order, self.broker.cancel(order))
                canceled += 1
        return canceled

    # ------------------------------------------------------------------- reconciliation

    def _reconcile_if_due(self, report: TickReport) -> None:
        every = self.config.executor.reconcile_every_ticks
        if self.reconciler is not None and self.ticks > 1 and self.ticks % every == 0:
            self.reconciler()

    # -------------------------------------------------------------------- order updates

    def _apply(
        self, order: OrderRecord, snapshot: OrderSnapshot, intent: OrderIntent | None = None
    ) -> OrderRecord:
        after = self.ledger.apply_order_update(
            order.client_order_id, snapshot.update, snapshot.fills
        )
        if after.role == "entry" and after.filled_quantity > order.filled_quantity:
            self._protect(after, intent)
        return after

    def _protect(self, order: OrderRecord, intent: OrderIntent | None) -> None:
        """Attach the entry intent's protective exits to the position it opened: its absolute
        levels, else its fractions of the entry's fill price (``exit_levels``, the function
        the backtester calls with its fill price)."""
        if intent is None and order.intent_id:
            record = self.ledger.intent(order.intent_id)
            intent = record.intent if record else None
        if intent is None:
            return
        stop, take = intent.stop_loss, intent.take_profit
        wants_fraction = (stop is None and intent.stop_loss_pct) or (
            take is None and intent.take_profit_pct
        )
        fill_price = self._entry_fill_price(order) if wants_fraction else 0.0
        if wants_fraction and fill_price <= 0:
            log.error(
                "entry fill price unknown: no default levels",
                extra={"order": order.client_order_id},
            )
        elif wants_fraction:
            stop, take = exit_levels(
                fill_price,
                stop_loss=stop,
                take_profit=take,
                default_stop_fraction=intent.stop_loss_pct,
                default_take_fraction=intent.take_profit_pct,
            )
        if stop or take or intent.trailing_stop_pct:
            self.ledger.set_protection(
                order.exchange,
                order.symbol,
                stop_loss=stop,
                take_profit=take,
                trailing_stop_pct=intent.trailing_stop_pct,
                instance_id=order.instance_id or DEFAULT_INSTANCE,
            )
            self.backstop.keep_in_step(order.exchange, order.symbol)

    def _entry_fill_price(self, order: OrderRecord) -> float:
        """The price the entry filled at: its one fill's price exactly (the order's average,
        ``sum(q * p) / sum(q)``, can differ from it in the last bit), else the volume-weighted
        average of its fills, else the order's average price."""
        t = schema.fills
        with self.ledger.transaction() as conn:
            rows = conn.execute(
                sa.select(t.c.quantity, t.c.price)
                .where(t.c.client_order_id == order.client_order_id)
                .order_by(t.c.id)
            ).all()
        if len(rows) == 1:
            return float(rows[0].price)
        filled = sum(r.quantity for r in rows)
        if filled > 0:
            return float(sum(r.quantity * r.price for r in rows) / filled)
        return float(order.average_price or order.price or 0.0)

    def _submit(
        self, order: OrderRecord, at: datetime | None, intent: OrderIntent | None = None
    ) -> OrderRecord:
        """Send an order once and record the answer; a lost answer leaves it in flight.

        The lease is checked first: an executor that lost its ledger places nothing.
        """
        if self.lease is not None:
            self.lease.check()
        self.throttle.record(self._clock())
        try:
            snapshot = self.broker.submit(order, at)
        except OrderRejected as exc:
            snapshot = OrderSnapshot(OrderUpdate(OrderState.REJECTED, reason=str(exc)))
        except SubmitOutcomeUnknown as exc:
            snapshot = OrderSnapshot(OrderUpdate(OrderState.IN_FLIGHT_UNKNOWN, reason=str(exc)))
        except Exception as exc:  # anything else: we cannot know it did not go
            log.exception("unexpected submit failure", extra={"order": order.client_order_id})
            snapshot = OrderSnapshot(
                OrderUpdate(OrderState.IN_FLIGHT_UNKNOWN, reason=f"submit failed: {exc!r}")
            )
        after = self._apply(order, snapshot, intent)
        log.info(
            "order submitted",
            extra={
                "order": order.client_order_id,
                "state": after.state.value,
                "reason": after.reason,
            },
        )
        return after

    def _resolve_in_flight(self, report: TickReport) -> None:
        """Settle orders whose submit outcome is unknown, by asking the exchange."""
        grace = timedelta(seconds=self.options.unknown_order_grace_seconds)
        now = self._clock()
        for order in self.ledger.orders([OrderState.PENDING_SUBMIT, OrderState.IN_FLIGHT_UNKNOWN]):
            if now - order.updated_at < grace:
                continue
            snapshot = self.broker.query(order, self._market_at(None))
            if snapshot is not None:
                self._apply(order, snapshot)
                continue
            if order.state == OrderState.PENDING_SUBMIT:
                # Left by a crash between writing the order and hearing back: the exchange has
                # no such client order id, so the one submit still has to happen.
                self._submit(order, self._market_at(None))
                report.orders_submitted += 1
                continue
            misses = self.ledger.note_lookup_miss(order.client_order_id)
            if misses >= self.options.max_unknown_lookups:
                self.ledger.apply_order_update(
                    order.client_order_id,
                    OrderUpdate(
                        OrderState.GIVEN_UP,
                        reason=f"the exchange has no order {order.client_order_id} after "
                        f"{misses} lookups: the submit never arrived",
                    ),
                )

    def _work_orders(self, report: TickReport) -> None:
        timeout = timedelta(seconds=self.options.limit_timeout_seconds)
        now = self.market_now()
        for order in self.ledger.orders([OrderState.OPEN, OrderState.PARTIALLY_FILLED]):
            snapshot = self.broker.query(order, self._market_at(None))
            if snapshot is None:
                log.warning(
                    "working order unknown to the broker", extra={"order": order.client_order_id}
                )
                continue
            order = self._apply(order, snapshot)
            if (
                order.state in (OrderState.OPEN, OrderState.PARTIALLY_FILLED)
                and order.order_type == "limit"
                and order.role == "entry"
                and now - (order.submitted_at or order.created_at) >= timeout
                and self.throttle.ready(self._clock())
            ):
                self._reprice(order)

    def _affordable_quantity(self, price: float) -> float:
        """How much a limit buy at ``price`` can take with the cash not yet committed."""
        fee = max(self.config.fees.maker, self.config.fees.taker)
        inputs = self.ledger.risk_inputs(
            self.broker.exchange, self.config.executor.quote_currency, self.market_now(), 1
        )
        free = max(0.0, inputs.uncommitted_cash(fee))
        return free / (price * (1.0 + fee)) if price > 0 else 0.0

    def _too_old(self, intent: OrderIntent) -> bool:
        age = (self.market_now() - intent.decided_at).total_seconds()
        return age > self.limits.age_limit(intent.timeframe)

    def _reprice(self, order: OrderRecord) -> None:
        """Cancel an unfilled limit entry past its timeout and replace it at the best bid."""
        canceled = self._apply(order, self.broker.cancel(order))
        state = self.ledger.trading_state()
        rules = self.broker.market_rules(order.symbol)
        # The best bid: where a sell would trade first, and where a passive buy joins the book.
        price = self.broker.reference_price(order.symbol, "sell", self._market_at(None))
        # Chasing the market is a new decision at today's price: only within the entry's age
        # limit, and only with cash in hand (the canceled order's reservation is gone).
        affordable = self._affordable_quantity(price)
        remaining = floor_quantity(min(canceled.remaining, affordable), rules)
        record = self.ledger.intent(canceled.intent_id) if canceled.intent_id else None
        why = None
        if canceled.state != OrderState.CANCELED:
            why = f"order ended {canceled.state} while canceling"
        elif canceled.attempt >= self.options.max_reprices:
            why = f"not repriced: {self.options.max_reprices} reprices used"
        elif state != TradingState.ACTIVE:
            why = f"not repriced: trading is {state}"
        elif record is not None and self._too_old(record.intent):
            why = "not repriced: the entry is older than its age limit"
        elif is_dust(remaining, price, rules):
            # The rest of a partly filled buy is skipped when the exchange would refuse it.
            why = f"not repriced: remaining {remaining:g} is below the exchange minimum"
        if why:
            self.ledger.audit("executor", "reprice_skipped", order.client_order_id, {"reason": why})
            if canceled.intent_id:
                self.ledger.finish_intent(canceled.intent_id, why)
            return
        assert canceled.intent_id is not None  # entries always come from an intent
        replacement = NewOrder(
            client_order_id=client_order_id(canceled.intent_id, "entry", canceled.attempt + 1),
            exchange=order.exchange,
            symbol=order.symbol,
            side=order.side,
            order_type="limit",
            role=order.role,
            quantity=remaining,
            price=round_limit_price(price, "buy", rules),
            post_only=order.post_only,
            attempt=order.attempt + 1,
            intent_id=order.intent_id,
            strategy=order.strategy,
            reason=f"reprice {order.attempt + 1} of {order.client_order_id}",
            instance_id=order.instance_id,
        )
        created = self.ledger.create_order(
            replacement, accept_intent=True, reason=replacement.reason
        )
        self._submit(created, self._market_at(None))

    # ------------------------------------------------------------ protective exits, marks

    def _positions(self) -> list[Position]:
        return [p for p in self.ledger.open_positions() if p.exchange == self.broker.exchange]

    def _watch_positions(self, report: TickReport) -> None:
        state = self.ledger.trading_state()
        now = self.market_now()
        step = timeframe_delta(self.options.protective_timeframe)
        exiting = {
            (o.symbol, o.instance_id)
            for o in self.ledger.orders(LIVE_STATES)
            if o.role in EXIT_ROLES
        }
        self.backstop.cancel_stale()
        for position in self._positions():
            # The protocol's exits (executor.exits): partial take-profits, ATR and time
            # stops, through the function the portfolio backtester calls.
            plan = (
                plan_for(self.ledger, position, self.config.protocol.exits)
                if self.protocol is not None
                else None
            )
            protected = (
                watched(plan)
                if plan is not None
                else position.stop_loss or position.take_profit or position.trailing_stop_pct
            )
            # Never before this position opened: the mark of an earlier one would replay
            # the candles in between against this position's levels.
            watched_key = f"{position.symbol}|{position.instance_id}"
            checked, opened = self._checked_until.get(watched_key), position.opened_at
            start = max(checked, opened) if checked and opened else checked or opened or now
            try:
                candles = self.market.fetch_ohlcv(
                    self.broker.exchange,
                    position.symbol,
                    self.options.protective_timeframe,
                    start,
                    now,
                    now=now,
                )
            except Exception as exc:  # market data trouble must not stop order handling
                report.errors.append(f"candles for {position.symbol}: {exc}")
                continue
            if candles.empty:
                continue
            high_water = position.high_water or position.avg_entry_price
            busy = (position.symbol, position.instance_id) in exiting
            if plan is not None:
                # Without a watermark (a restart) the candles since the entry are replayed
                # from the entry price up, so no candle meets a level raised by a later one.
                high = position.avg_entry_price if checked is None else high_water
                last_ts = self._watch_plan(position, plan, candles, high, busy, state, report)
                self._checked_until[watched_key] = last_ts + step
                continue
            trigger: tuple[str, datetime, float] | None = None
            for bar in candles.itertuples(index=False):
                if protected and trigger is None and not busy:
                    trigger = self._trigger(position, bar, high_water)
                    if trigger:
                        break
                high_water = max(high_water, float(bar.high))
            last = candles.iloc[-1]
            self._checked_until[watched_key] = last.ts.to_pydatetime() + step
            self.ledger.mark_price(
                position.exchange, position.symbol, float(last.close), high_water,
                position.instance_id,
            )  # fmt: skip
            if trigger is None:
                self.backstop.keep_in_step(position.exchange, position.symbol)  # trailing
                continue
            role, candle_ts, level = trigger
            if state == TradingState.HALTED:
                self.ledger.audit(
                    "executor",
                    "protective_exit_suppressed",
                    position.symbol,
                    {"role": role, "level": level, "reason": "trading is HALTED"},
                )
                continue
            cid = self._protective_order_id(position, role)
            if cid is None:
                report.errors.append(f"{position.symbol}: {role} exits keep failing")
                continue
            # The candle that triggered it: a paper broker fills at the conventions' price for
            # that candle; an exchange trades now, whatever `at` says.
            self._place_exit(
                position,
                role,
                cid,
                reason=f"{role} at {level:g} triggered",
                at=candle_ts,
                stop_price=level,
            )
            report.protective_exits += 1

    def _watch_plan(
        self,
        position: Position,
        plan: ExitPlan,
        candles: Any,
        high_water: float,
        busy: bool,
        state: TradingState,
        report: TickReport,
    ) -> datetime:
        """Play the candles against the position's exit plan (``trading_core.protocol.exits``)
        and place the exits they trigger: each intrabar exit at the candle that triggered it
        (``at``: its open time, ``stop_price``: its level), a time stop at market. Stops at the
        first candle that placed one (the next tick goes on from the candle after); returns
        the open time of the last candle played. ``high_water``: the highest high before the
        first candle. A tier already sold asks for nothing more and is skipped, so a replay
        of candles already seen places nothing twice."""
        step = timeframe_delta(self.options.protective_timeframe)
        rules = self.broker.market_rules(position.symbol)
        least = minimums(rules, self.config.protocol.exits)
        remaining = position.quantity
        last_ts: datetime = candles.iloc[-1].ts.to_pydatetime()
        close = float(candles.iloc[-1].close)
        for bar in candles.itertuples(index=False):
            candle_ts: datetime = bar.ts.to_pydatetime()
            orders = []
            if not busy:
                orders = intrabar(
                    plan,
                    remaining,
                    high_water,
                    (float(bar.open), float(bar.high), float(bar.low)),
                    min_quantity=least.quantity,
                    min_notional=least.notional,
                )
            placed: list[tuple[ExitOrder, datetime | None]] = [(o, candle_ts) for o in orders]
            remaining -= sum(o.quantity for o in orders)
            if remaining > QTY_EPSILON:
                high_water = max(high_water, float(bar.high))
                closed_at = candle_ts + step
                timed = None if busy else at_close(plan, remaining, closed_at, float(bar.close))
                if timed is not None:
                    placed.append((timed, None))
            if not placed:
                continue
            self.ledger.mark_price(
                position.exchange, position.symbol, float(bar.close), high_water,
                position.instance_id,
            )  # fmt: skip
            for order, at in placed:
                if state == TradingState.HALTED:
                    self.ledger.audit(
                        "executor",
                        "protective_exit_suppressed",
                        position.symbol,
                        {"role": order.reason, "level": order.level, "reason": "trading is HALTED"},
                    )
                    continue
                cid = self._protective_order_id(position, order.reason)
                if cid is None:
                    report.errors.append(f"{position.symbol}: {order.reason} exits keep failing")
                    break
                current = self.ledger.position(
                    position.exchange, position.symbol, position.instance_id
                )
                if current is None or current.quantity <= QTY_EPSILON:
                    break
                self._place_exit(
                    current,
                    order.reason,
                    cid,
                    reason=f"{order.reason} at {order.level:g} triggered",
                    at=at if at is not None else self._market_at(None),
                    stop_price=order.level if at is not None else None,
                    quantity=order.quantity,
                )
                report.protective_exits += 1
            return candle_ts
        self.ledger.mark_price(
            position.exchange, position.symbol, close, high_water, position.instance_id
        )
        self.backstop.keep_in_step(position.exchange, position.symbol)  # trailing
        return last_ts

    def _protective_order_id(self, position: Position, role: str) -> str | None:
        """A fresh client order id for this position's exit: the next attempt after ones the
        exchange refused (None once ``max_reprices`` attempts have failed)."""
        key = f"{position.symbol}{position.opened_at}"
        if position.instance_id != DEFAULT_INSTANCE:
            key += f"|{position.instance_id}"
        source = position.entry_intent_id or hashlib.sha1(key.encode()).hexdigest()[:24]
        for attempt in range(self.options.max_reprices + 1):
            cid = client_order_id(source, role, attempt)
            if self.ledger.order(cid) is None:
                return cid
        return None

    def _trigger(
        self, position: Position, bar: Any, high_water: float
    ) -> tuple[str, datetime, float] | None:
        """Which protective exit this candle triggers (stop-loss first on a tie), the candle's
        open time and the level."""
        stop = position.stop_loss
        role = "stop_loss"
        if position.trailing_stop_pct:
            # The level trails the highest price up to the previous candle (no lookahead).
            trail = trailing_stop_level("buy", high_water, position.trailing_stop_pct)
            if stop is None or trail > stop:
                stop, role = trail, "trailing_stop"
        hit = intrabar_exit(
            "buy", float(bar.open), float(bar.high), float(bar.low), stop, position.take_profit
        )
        if hit is None:
            return None
        if hit[0] == "take_profit":
            return "take_profit", bar.ts.to_pydatetime(), float(position.take_profit or 0.0)
        return role, bar.ts.to_pydatetime(), float(stop or 0.0)

    def _place_exit(
        self,
        position: Position,
        role: str,
        cid: str,
        *,
        reason: str,
        at: datetime | None = None,
        intent: OrderIntent | None = None,
        stop_price: float | None = None,
        quantity: float | None = None,
    ) -> OrderRecord | None:
        """Sell a long position (all of it, ``quantity`` of it - a partial exit - or the
        intent's quantity) at market.

        ``stop_price`` is the protective level that triggered the exit, if any.
        """
        # The backstop goes first: it locks the base quantity the exit sells.
        after = self.backstop.before_exit(position)
        if after is None:
            return None
        position = after
        rules = self.broker.market_rules(position.symbol)
        try:
            quantity = exit_quantity(
                position.quantity,
                intent.quantity if intent else quantity,
                position.mark_price,
                rules,
            )
        except OrderNotPlaceable as exc:
            self.ledger.audit(
                "executor",
                "exit_not_placeable",
                position.symbol,
                {"role": role, "reason": str(exc)},
            )
            return None
        order = self.ledger.create_order(
            NewOrder(
                client_order_id=cid,
                exchange=position.exchange,
                symbol=position.symbol,
                side="sell",
                order_type="market",
                role=role,
                quantity=quantity,
                stop_price=stop_price,
                intent_id=intent.intent_id if intent else position.entry_intent_id,
                strategy=position.strategy,
                reason=reason,
                instance_id=position.instance_id,
            ),
            accept_intent=intent is not None,
            reason=reason,
        )
        return self._submit(order, at)

    # ----------------------------------------------------------------------- drawdown

    def _equity(self) -> float:
        return self.ledger.account(self.config.executor.quote_currency).equity

    def _check_drawdown(self, report: TickReport) -> None:
        if self.protocol is not None:
            return  # the protocol's drawdown stages replace the flat kill switch
        equity = self._equity()
        peak = self.ledger.update_peak_equity(equity)
        limit = self.config.risk.max_drawdown_pct
        self.alerts.drawdown(drawdown(equity, peak), peak, equity, report.started_at)
        if (
            drawdown_breached(equity, peak, limit)
            and self.ledger.trading_state() != TradingState.HALTED
        ):
            reason = (
                f"drawdown {drawdown(equity, peak):.2%} from peak equity {peak:.2f} "
                f"(now {equity:.2f}) reached max_drawdown_pct {limit:.2%}"
            )
            self.ledger.set_trading_state(TradingState.HALTED, reason, "risk")
            log.error("trading halted", extra={"reason": reason})
            self.alerts.halted(reason, report.started_at)

    def _observe_protocol(self, report: TickReport) -> None:
        """The protocol observes the account; capital preservation closes positions."""
        if self.protocol is None:
            return
        now = self.market_now()
        try:  # the closes and bars the correlation and volatility rules read
            self.protocol.refresh_market(self.market, self.broker.exchange, now)
        except Exception as exc:  # market data trouble: the rules decide without it
            report.errors.append(f"protocol market data: {exc}")
        closing = set(self.protocol.observe(self._equity(), now))
        if not closing:
            return
        stamp = hashlib.sha1(now.isoformat().encode()).hexdigest()[:10]
        for position in self._positions():
            if sub_key(position) not in closing or position.quantity <= 0:
                continue
            source = "cp" + stamp + hashlib.sha1(sub_key(position).encode()).hexdigest()[:10]
            cid = client_order_id(source, "preservation")
            if self.ledger.order(cid) is None:
                self._place_exit(
                    position, "preservation", cid, reason="capital preservation",
                    at=self._market_at(None),
                )  # fmt: skip
                report.protective_exits += 1

    def protocol_review(self, by: str) -> str:
        """The operator's review after capital preservation (``trading control review``)."""
        if self.protocol is None:
            raise ValueError("the risk protocol is off (no strategies: list in the config)")
        row = self.protocol.review(self._equity(), self.market_now(), by)
        return f"reviewed: {row['kind']} {json.dumps(row['detail'], sort_keys=True)}"

    # ------------------------------------------------------------------------- intents

    def _process_intents(self, report: TickReport) -> None:
        for record in self.ledger.new_intents(self.options.intents_per_tick):
            report.intents_seen += 1
            if self.replay and (
                self._market_now is None or record.intent.decided_at > self._market_now
            ):
                self._market_now = record.intent.decided_at
            if record.intent.action == "open" and not self.throttle.ready(self._clock()):
                report.intents_delayed += 1  # stays NEW: the next tick takes it
                continue
            try:
                order = self._handle_intent(record)
            except (LeaseLost, BrokerUnavailable):
                raise  # stop here; a later tick (or the new owner) takes the intent
            except Exception as exc:
                log.exception("intent handling failed", extra={"intent": record.intent.intent_id})
                self._fail_intent(record.intent, exc)
                report.errors.append(f"intent {record.intent.intent_id}: {exc!r}")
                order = None
            if order is None:
                report.intents_rejected += 1
            else:
                report.orders_submitted += 1

    def _fail_intent(self, intent: OrderIntent, exc: Exception) -> None:
        """A terminal FAILED status, so one intent can never poison every tick."""
        current = self.ledger.intent(intent.intent_id)
        if current is not None and current.status == "NEW":
            self.ledger.set_intent_status(
                intent.intent_id, "FAILED", f"executor error while handling it: {exc!r}"
            )

    def _entry_fee(self, intent: OrderIntent) -> float:
        """The fee rate an all-in notional holds (``notional_includes_fee``): the maker fee for
        a limit entry, the taker fee for a market one, as the backtester sizes them; 0 for a
        notional that is the order's value."""
        if not intent.notional_includes_fee:
            return 0.0
        fees = self.config.fees
        return fees.maker if intent.order_type == "limit" else fees.taker

    def _note_minimum(self, symbol: str) -> None:
        """Keep the market's minimum order in the ledger (once per symbol and process), so
        that a holding below it counts as dust, not as an open position
        (``executor.ledger.dust``): it would block a re-entry."""
        noted: set[str] = self.__dict__.setdefault("_minimums_noted", set())
        if symbol in noted:
            return
        try:
            rules = self.broker.market_rules(symbol)
        except BrokerUnavailable:
            raise
        except Exception as exc:  # no rules for it: no dust rule either
            log.warning("no market rules", extra={"symbol": symbol, "error": str(exc)})
            return
        self.ledger.set_market_minimum(
            self.broker.exchange,
            symbol,
            min_quantity=rules.min_quantity,
            amount_step=rules.amount_step,
        )
        noted.add(symbol)

    def _risk_context(self, intent: OrderIntent, price: float) -> RiskContext:
        self._note_minimum(intent.symbol)
        day_start = self.market_now().replace(hour=0, minute=0, second=0, microsecond=0)
        inputs = self.ledger.risk_inputs(
            self.broker.exchange,
            self.config.executor.quote_currency,
            day_start,
            self.config.risk.max_trades_per_day,
        )
        position = inputs.positions.get(intent.symbol)
        fees = self.config.fees
        return RiskContext(
            trading_state=inputs.trading_state,
            equity=inputs.equity,
            cash=inputs.uncommitted_cash(max(fees.maker, fees.taker)),
            price=price,
            position_quantity=position.quantity if position else 0.0,
            busy_symbols=frozenset(inputs.positions) | inputs.live_entry_symbols,
            trades_today=inputs.trades_today,
            # An all-in notional already holds its fee: the gate reserves none on top.
            taker_fee=0.0 if intent.notional_includes_fee else fees.taker,
            # A market buy walks the book up to max_slippage_bps above the price it was
            # sized at: the gate keeps that much cash in hand.
            slippage_reserve=fees.max_slippage_bps / 10_000
            if intent.order_type == "market"
            else 0.0,
        )

    def _handle_intent(self, record: IntentRecord) -> OrderRecord | None:
        intent = record.intent
        if self.lease is not None:
            self.lease.check()  # decide nothing on a ledger another executor owns
        at = self._market_at(intent)
        if intent.exchange != self.broker.exchange:
            self.ledger.set_intent_status(
                intent.intent_id,
                "REJECTED_BY_RISK",
                f"intent for exchange {intent.exchange!r}; this executor trades "
                f"{self.broker.exchange!r}",
            )
            return None
        refusal = override_ledger.refuse_entry(self.ledger, intent)  # blacklist, paused
        if refusal is not None:
            self.ledger.set_intent_status(intent.intent_id, "REJECTED_BY_RISK", refusal)
            return None
        held = self.ledger.position(self.broker.exchange, intent.symbol)
        holding = held is not None and held.quantity > 0
        market_price: float | None = None
        if intent.symbol in self.markets or holding:
            try:
                market_price = self.broker.reference_price(intent.symbol, intent.side, at)
            except BrokerUnavailable:
                raise
            except Exception as exc:  # no market data: decide with the intent's price
                log.warning(
                    "no reference price", extra={"symbol": intent.symbol, "error": str(exc)}
                )
        admission = admit(
            intent,
            now=self.market_now(),
            price=market_price,
            exchange=self.broker.exchange,
            markets=self.markets,
            holding=holding,
            limits=self.limits,
        )
        if not admission.admitted:
            self.ledger.set_intent_status(intent.intent_id, admission.status, admission.reason)
            log.info(
                "intent refused",
                extra={
                    "intent": intent.intent_id,
                    "status": admission.status,
                    "reason": admission.reason,
                },
            )
            return None
        if admission.late:
            self.ledger.audit(
                "executor", "late_exit", intent.intent_id, {"reason": admission.reason}
            )
        price = market_price if market_price is not None else (intent.reference_price or 0.0)
        context = self._risk_context(intent, price)
        limits = self.config.risk
        verdict = None
        if (
            self.protocol is not None
            and intent.action == "open"
            and context.trading_state == TradingState.ACTIVE
            and price > 0
        ):
            verdict = self.protocol.decide(
                intent, price, equity=context.equity, cash=context.cash,
                exchange=self.broker.exchange,
            )  # fmt: skip
            if verdict.refusal is not None and verdict.reasons:
                self.ledger.audit("protocol", "entry_decision", intent.intent_id,
                                  {"instance": intent.instance, **verdict.reasons})  # fmt: skip
            if verdict.refusal is not None:
                self.ledger.set_intent_status(intent.intent_id, "REJECTED_BY_RISK", verdict.refusal)
                return None
            if verdict.decision is not None:
                intent = self._protocol_sized(intent, verdict.decision, price)
                # its notional is the order's value, the fee on top
                intent = dataclasses.replace(intent, notional_includes_fee=False)
                # The tiers and allocations bound the size and the positions now.
                limits = limits.model_copy(
                    update={"position_fraction": 1.0, "max_open_positions": 1_000_000}
                )
        decision = check_intent(intent, context, limits)
        if not decision.accepted:
            self.ledger.set_intent_status(intent.intent_id, "REJECTED_BY_RISK", decision.reason)
            log.info(
                "intent rejected", extra={"intent": intent.intent_id, "reason": decision.reason}
            )
            return None
        if intent.action == "close":
            return self._handle_close(intent, at)
        rules = self.broker.market_rules(intent.symbol)
        limit = (
            round_limit_price(intent.limit_price, "buy", rules)
            if intent.order_type == "limit" and intent.limit_price
            else None
        )
        try:
            quantity = (
                floor_quantity(intent.quantity, rules)
                if intent.quantity
                else entry_quantity(
                    intent.notional or 0.0, limit or price, rules, fee_rate=self._entry_fee(intent)
                )
            )
        except OrderNotPlaceable as exc:
            self.ledger.set_intent_status(
                intent.intent_id, "REJECTED_BY_RISK", f"exchange rules: {exc}"
            )
            return None
        reason = decision.reason
        if verdict is not None and verdict.reasons:
            reason = "protocol " + json.dumps(verdict.reasons, sort_keys=True)
        order = self.ledger.create_order(
            NewOrder(
                client_order_id=client_order_id(intent.intent_id, "entry"),
                exchange=intent.exchange,
                symbol=intent.symbol,
                side="buy",
                order_type=intent.order_type,
                role="entry",
                quantity=quantity,
                price=limit,
                post_only=(intent.post_only or self.options.post_only_limits) and limit is not None,
                intent_id=intent.intent_id,
                strategy=intent.strategy,
                reason=reason,
                instance_id=intent.instance or DEFAULT_INSTANCE,
            ),
            accept_intent=True,
            reason=reason,
            # the protocol's reasons, audited with the order (one commit)
            decision={"instance": intent.instance, **verdict.reasons}
            if verdict is not None and verdict.reasons
            else None,
        )
        return self._submit(order, at, intent)

    def _protocol_sized(
        self, intent: OrderIntent, decision: EntryDecision, price: float
    ) -> OrderIntent:
        """The intent as the protocol sized it: value plus taker fee equals the decision's
        notional, the protocol's stop, and the instance's take-profit / trailing stop
        (``position_sizing.exit_levels``, as the backtester sets them). An operator's
        ``set-risk`` scales the notional (``executor.overrides``): down always, up only when
        no cap bound the decision and the configuration allows it."""
        assert decision.stop is not None
        inst = self.protocol.instance(intent.instance) if self.protocol else None
        risk = inst.resolved_risk() if inst else None
        _, take = exit_levels(
            price,
            stop_loss=decision.stop.price,
            take_profit=intent.take_profit,
            default_take_fraction=risk.take_profit_pct if risk else None,
        )
        if self.config.protocol.exits.take_profit.enabled:
            take = None  # the tiers take profits in parts; a whole-position target (and its
            # exchange-side backstop) would sell everything at the first one
        notional = decision.notional
        if self.protocol is not None:
            tier = self.protocol.config.tiers[self.protocol.state.tier.index]
            override = override_ledger.risk_override(
                self.ledger, tier.risk_per_trade, self.config.overrides.scale_cap
            )
            if override is not None:
                scale, detail = override
                notional *= scale
                if scale > 1.0:  # the protocol's own limits stay hard (not the tier's cap)
                    room = override_ledger.scale_up_room(
                        self.ledger, self.protocol, intent, self.broker.exchange,
                        self.config.executor.quote_currency,
                    )  # fmt: skip
                    notional = max(decision.notional, min(notional, room))
                self.ledger.audit("operator", "risk_override_applied", intent.intent_id,
                                  {**detail, "notional": notional,
                                   "protocol_notional": decision.notional})  # fmt: skip
        value = all_in_quantity(notional, price, self.config.fees.taker) * price
        return dataclasses.replace(
            intent,
            notional=value,
            quantity=None,
            stop_loss=decision.stop.price,
            take_profit=take,
            trailing_stop_pct=(
                risk.trailing_stop_pct if risk and risk.trailing_stop_pct else
                intent.trailing_stop_pct
            ),
        )  # fmt: skip

    def _handle_close(self, intent: OrderIntent, at: datetime | None) -> OrderRecord | None:
        """Close the intent's instance's sub-position (other instances keep theirs)."""
        instance = intent.instance or DEFAULT_INSTANCE
        position = self.ledger.position(self.broker.exchange, intent.symbol, instance)
        if position is None or position.quantity <= QTY_EPSILON:
            self.ledger.set_intent_status(
                intent.intent_id,
                "REJECTED_BY_RISK",
                f"instance {instance!r} holds no {intent.symbol} position to close",
            )
            return None
        live = [
            o
            for o in self.ledger.orders(LIVE_STATES, symbol=intent.symbol)
            if (o.instance_id or DEFAULT_INSTANCE) == instance
        ]
        if any(o.role in EXIT_ROLES for o in live):
            self.ledger.set_intent_status(
                intent.intent_id,
                "REJECTED_BY_RISK",
                f"an exit for {intent.symbol} is already working",
            )
            return None
        working = [
            o
            for o in live
            if o.role == "entry" and o.state in (OrderState.OPEN, OrderState.PARTIALLY_FILLED)
        ]
        for order in working:
            self._apply(order, self.broker.cancel(order))
        position = self.ledger.position(self.broker.exchange, intent.symbol, instance)
        assert position is not None  # checked above
        exit_order = self._place_exit(
            position,
            "exit",
            client_order_id(intent.intent_id, "exit"),
            reason=f"close intent {intent.intent_id}",
            at=at,
            intent=intent,
        )
        if exit_order is None:
            self.ledger.set_intent_status(
                intent.intent_id,
                "REJECTED_BY_RISK",
                "exchange rules: the position is below the minimum",
            )
        return exit_order

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
