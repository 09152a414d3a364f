"""The operator overrides (``executor.overrides``) on a ledger: the context a command is
checked against, applying a command and saving the new state with its audit entry, and the
refusal an entry intent meets.

The engine calls ``apply_command`` for a pending override command and ``refuse_entry`` for
each intent; ``trading control`` (and the Dagster control jobs, the Telegram bot) call
``check_new`` before recording one, so a command that would be refused is an error at once,
with the same words the executor would record.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from executor.intents import OrderIntent
from executor.ledger import Ledger, OperatorCommand
from executor.ledger.controls import SYMBOL_COMMANDS
from executor.override_checks import finite
from executor.overrides import (
    STATE_COMMANDS,
    Context,
    Hold,
    Outcome,
    OverrideError,
    Overrides,
    apply,
    check_scale,
    check_until,
    entry_refusal,
    parse_duration,
    parse_until,
    project,
    risk_scale,
)
from executor.protocol_gate import ProtocolGate, StoredProtocol, sub_key
from executor.records import QTY_EPSILON
from trading_core.config import TradingConfig
from trading_core.config_portfolio import DEFAULT_INSTANCE, MANUAL_INSTANCE, instances_of
from trading_core.protocol.allocation import base_asset, headrooms


def load(ledger: Ledger) -> Overrides:
    """The stored overrides (``OverrideError`` for a broken document)."""
    return Overrides.from_json(ledger.operator_overrides())


def stored_tier_index(ledger: Ledger) -> int | None:
    """The protocol's tier (0-based) as the ledger last saved it (None: not started)."""
    text = ledger.protocol_state()
    if text is None:
        return None
    try:
        return StoredProtocol.from_json(text).state.tier.index
    except ValueError:
        return None


def context_for(config: TradingConfig, tier_index: int | None, now: datetime) -> Context:
    """What commands are checked against: the traded symbols, the configured instances, and,
    with the risk protocol on, the tier (the first one until the protocol has started)."""
    protocol_on = config.strategies.root is not None
    instances = {i.id for i in instances_of(config)}
    tier = tier_rpt = None
    if protocol_on:
        instances.add(MANUAL_INSTANCE)
        tiers = config.protocol.tiers
        index = min(max(tier_index or 0, 0), len(tiers) - 1)
        tier, tier_rpt = index + 1, tiers[index].risk_per_trade
    limits = config.overrides
    return Context(
        now=now,
        symbols=frozenset(config.market.symbols),
        instances=frozenset(instances),
        tier=tier,
        tier_risk_per_trade=tier_rpt,
        scale_cap=limits.scale_cap,
        max_duration=timedelta(hours=limits.max_duration_hours),
    )


def hold_of(command: OperatorCommand) -> Hold:
    return Hold(command.issued_at, command.who, command.why, command.id)


def apply_command(
    ledger: Ledger, config: TradingConfig, command: OperatorCommand, tier_index: int | None
) -> Outcome:
    """Apply one pending override command; an applied one is saved and audited."""
    now = ledger.now()
    try:
        state = load(ledger)
    except OverrideError as exc:
        return Outcome(Overrides(), f"refused: {exc}; fix or delete it first", applied=False)
    ctx = context_for(config, tier_index, now)
    outcome = apply(state, command.command, command.symbol, command.args, hold_of(command), ctx)
    if outcome.applied:
        detail: dict[str, Any] = {
            "id": command.id,
            "symbol": command.symbol,
            "args": command.args,
            "why": command.why,
            "result": outcome.result,
            "overrides": outcome.state.summary(now),
        }
        ledger.save_operator_overrides(
            outcome.state.to_json(), f"operator:{command.who}", "override_changed",
            command.command, detail,
        )  # fmt: skip
    return outcome


def check_new(
    ledger: Ledger,
    config: TradingConfig,
    command: str,
    symbol: str | None,
    args: dict[str, Any],
    who: str,
    why: str,
) -> None:
    """``OverrideError`` if the executor would refuse this command after the pending ones
    (a duplicate, an unknown symbol or instance, a scale above the tier's limit)."""
    now = ledger.now()
    pending = ledger.commands(pending_only=True)
    for other in pending:
        if (other.command, other.symbol, _core(other.args)) == (command, symbol, _core(args)):
            raise OverrideError(
                f"command {other.id} ({command}{' ' + symbol if symbol else ''}) is already "
                "pending; the executor applies it on its next tick"
            )
    if command not in STATE_COMMANDS:
        return
    ctx = context_for(config, stored_tier_index(ledger), now)
    state = project(
        load(ledger),
        [(c.command, c.symbol, c.args, hold_of(c)) for c in pending],
        ctx,
    )
    outcome = apply(state, command, symbol, args, Hold(now, who, why, 0), ctx)
    if not outcome.applied:
        raise OverrideError(outcome.result.removeprefix("refused: "))


def _core(args: dict[str, Any]) -> dict[str, Any]:
    """A command's arguments without where it came from (for the duplicate check); a
    duration (``for``) stands for the expiry it was turned into when issued."""
    skip = {"source", "run_id"} | ({"until"} if "for" in args else set())
    return {k: v for k, v in args.items() if k not in skip}


def refuse_entry(ledger: Ledger, intent: OrderIntent) -> str | None:
    """Why the operator overrides refuse this intent (None: they do not). Only entries:
    closes and protective exits always pass."""
    if intent.action != "open":
        return None
    try:
        state = load(ledger)
    except OverrideError as exc:  # fail closed: a blacklist nobody can read still holds
        return f"operator overrides unreadable: {exc}"
    return entry_refusal(state, intent.symbol, intent.instance or DEFAULT_INSTANCE, ledger.now())


def risk_override(
    ledger: Ledger, tier_risk_per_trade: float, cap: float
) -> tuple[float, dict[str, Any]] | None:
    """set-risk's scale for an entry sized now (None: none in force)."""
    try:
        state = load(ledger)
    except OverrideError:
        return None
    return risk_scale(state, ledger.now(), tier_risk_per_trade, cap)


def normalize_symbol(symbol: object) -> str:
    """``BTC/USDT`` (``BTC-USDT`` and lower case accepted)."""
    text = str(symbol).strip().upper()
    if "/" not in text:
        base, sep, quote = text.partition("-")
        text = f"{base}/{quote}" if sep else text
    base, sep, quote = text.partition("/")
    if not (sep and base.isalnum() and quote.isalnum() and len(text) <= 32):
        raise OverrideError(f"symbol {str(symbol)[:40]!r} must look like BTC/USDT or BTC-USDT")
    return text


def issue(ledger: Ledger, config: TradingConfig, command: str, **fields: Any) -> int:
    """Check and record one override command (``trading control``, a Dagster control job,
    the Telegram bot); its id. ``fields`` are ``prepare``'s keywords (``who``, ``why``,
    ``symbol``, ...). ``OverrideError`` names what is wrong, nothing recorded."""
    symbol, args = prepare(ledger, config, command, **fields)
    return ledger.add_command(command, fields["who"], fields["why"], symbol, args)


def prepare(
    ledger: Ledger,
    config: TradingConfig,
    command: str,
    *,
    who: str,
    why: str,
    symbol: str | None = None,
    instance: str | None = None,
    scale: float | None = None,
    risk_per_trade: float | None = None,
    clear: bool = False,
    duration: str | None = None,
    until: str | None = None,
    source: str = "cli",
    run_id: str | None = None,
) -> tuple[str | None, dict[str, Any]]:
    """``issue``'s checks without recording: the command's symbol and arguments."""
    if not who or len(who) > 64:
        raise OverrideError(f"who must be 1..64 characters, got {len(who or '')}")
    if not why.strip() or len(why) > 1000:
        raise OverrideError("reason must be 1..1000 characters (it is kept in the audit)")
    args: dict[str, Any] = {"source": source}
    if run_id:
        args["run_id"] = run_id
    timed = command in ("set-risk", "blacklist", "pause-instance")
    if (duration is not None or until is not None) and not timed:
        raise OverrideError(f"{command} takes no duration; timed: set-risk, blacklist, "
                            "pause-instance")  # fmt: skip
    if duration is not None and until is not None:
        raise OverrideError("give one of --for DURATION and --until TIME, not both")
    now = ledger.now()
    ctx = context_for(config, stored_tier_index(ledger), now)
    expiry = now + parse_duration(duration) if duration is not None else None
    if until is not None:
        expiry = parse_until(until)
    if expiry is not None:
        check_until(expiry, ctx)
        args["until"] = expiry.isoformat()
        if duration is not None:
            args["for"] = duration
    sizing = [n for n, v in (("scale", scale), ("risk_per_trade", risk_per_trade)) if v is not None]
    if command != "set-risk" and (sizing or clear):
        raise OverrideError(f"{command} takes no {(sizing or ['clear'])[0]}; only set-risk does")
    if command == "set-risk":
        if len(sizing) + int(clear) != 1:
            raise OverrideError("set-risk takes exactly one of --scale, --risk-per-trade, --clear")
        if clear:
            args["clear"] = True
        elif scale is not None:
            args["scale"] = check_scale(scale, ctx.scale_cap)
        else:
            args["risk_per_trade"] = finite("risk_per_trade", risk_per_trade)
    elif command in ("pause-instance", "resume-instance") or (
        command == "force-exit" and instance is not None
    ):
        if instance is None or instance not in ctx.instances:
            raise OverrideError(
                f"unknown instance {instance!r}; configured: {sorted(ctx.instances)}"
            )
        args["instance"] = instance
    elif instance is not None:
        raise OverrideError(f"{command} takes no instance")
    if command in SYMBOL_COMMANDS:
        if symbol is None:
            raise OverrideError(f"{command} needs a symbol, e.g. BTC/USDT")
        symbol = normalize_symbol(symbol)
        if command == "force-exit":
            held = sorted(
                {p.symbol for p in ledger.open_positions()
                 if p.quantity > 0 and instance in (None, p.instance_id)}
            )  # fmt: skip
            if symbol not in held:
                raise OverrideError(f"no open position in {symbol}; open positions: {held}")
    elif symbol is not None:
        raise OverrideError(f"{command} takes no symbol")
    check_new(ledger, config, command, symbol, args, who, why)
    return symbol, args


def scale_up_room(
    ledger: Ledger, gate: ProtocolGate, intent: OrderIntent, exchange: str, quote: str
) -> float:
    """The most an entry scaled above 1 may commit: the room the protocol's own limits
    leave (the instance's free capital, the allocation limits, the cash), recomputed as
    ``ProtocolGate.decide`` computes them. Only the tier's max position may be exceeded."""
    stored = gate.stored
    inst = gate.instances.get(intent.instance or MANUAL_INSTANCE)
    if stored is None or inst is None:
        return 0.0
    subs = ledger.positions()
    held = [p for p in subs if abs(p.quantity) > QTY_EPSILON]
    exposure: dict[str, float] = {}
    for p in held:
        exposure[base_asset(p.symbol)] = exposure.get(base_asset(p.symbol), 0.0) + p.market_value
    mine = [p for p in subs if p.instance_id == inst.id and p.exchange == exchange]
    mine_open = [p for p in mine if abs(p.quantity) > QTY_EPSILON]
    realized = sum(p.realized_pnl_net - stored.origin.get(sub_key(p), 0.0) for p in mine)
    capital = inst.allocation * stored.capital + realized + sum(p.unrealized_pnl for p in mine_open)
    account = ledger.account(quote)
    rooms = [capital - sum(p.market_value for p in mine_open), account.cash]
    if account.equity > 0:
        rooms += [
            r.room
            for r in headrooms(intent.symbol, exposure, account.equity, gate.config.allocation)
        ]
    return max(0.0, min(rooms))
