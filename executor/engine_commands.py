"""Operator commands inside the executor's tick (``Engine``, step 1): pause, resume, halt,
close-all, close-position, review and the operator overrides, each applied once and audited.

A mixin of ``executor.engine.Engine``: its methods read the engine's state (``self``).
"""

from __future__ import annotations

import hashlib
import json
import logging

from executor import override_ledger
from executor.brokers.base import (
    BrokerError,
)
from executor.engine_positions import EnginePositions
from executor.engine_state import TickReport
from executor.exits import EXIT_ROLES
from executor.lease import LeaseLost
from executor.ledger import OperatorCommand
from executor.orders import LIVE_STATES, OrderState, client_order_id
from executor.overrides import STATE_COMMANDS
from executor.trading_state import TradingState
from trading_core.config_portfolio import DEFAULT_INSTANCE

log = logging.getLogger("executor.engine")


class EngineCommands(EnginePositions):
    """The engine's commands (a room of ``executor.engine.Engine``)."""

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
