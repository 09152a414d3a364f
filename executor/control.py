"""Operator commands: ``pause | resume | close-all | close-position SYMBOL | halt | review |
status`` and the operator overrides ``set-risk | blacklist SYMBOL | unblacklist SYMBOL |
force-exit SYMBOL | pause-instance ID | resume-instance ID`` (``executor.overrides``).

A command is a row in the ledger (who, when, why), audited when issued and again when the
running executor applies it, at the start of its next tick. It works the same whether the
executor is running or not: a command issued while it is down is applied when it starts.

- ``pause``: REDUCING, exits only (protective exits keep working).
- ``resume``: ACTIVE again; the drawdown peak is reset to the current equity.
- ``halt``: HALTED, nothing new at all; working entry orders are canceled.
- ``close-all``: cancel working entries and sell every position; ACTIVE becomes REDUCING.
- ``close-position SYMBOL``: cancel that symbol's working entries and sell the position
  (every strategy instance's sub-position in it).
- ``review``: the operator's review that ends capital preservation once its cooldown is
  over (risk protocol on: a ``strategies:`` list); entries resume at the reduced size.
  Refused, with the reason in the command's result, before the cooldown ends.
- ``set-risk --scale X | --risk-per-trade F | --clear [--for 2h | --until TIME]``: scale
  (or set) the risk per trade the risk protocol sizes entries with; never above the tier's
  unless ``overrides.allow_above_tier`` (then at most ``overrides.max_scale``).
- ``blacklist SYMBOL [--for | --until]`` / ``unblacklist SYMBOL``: no new entries in it.
- ``force-exit SYMBOL [--instance ID]``: cancel its working entries and sell the position
  at market (exit reason ``force_exit``).
- ``pause-instance ID [--for | --until]`` / ``resume-instance ID``: no new entries for one
  strategy instance; its exits keep working.
- ``status``: print the state, account, positions, overrides, recent commands and health.

A command the executor would refuse (an unknown symbol or instance, a scale that is NaN,
not positive or above the cap, a time already past, a duplicate of a pending command, a
symbol already blacklisted) is an error here (exit 2), and nothing is recorded.

``trading control ...`` (the project CLI) calls ``main(argv)``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from typing import Any

import sqlalchemy as sa

from executor import override_ledger
from executor.health import read_health
from executor.ledger import Ledger
from executor.ledger.controls import OVERRIDE_COMMANDS
from executor.overrides import OverrideError
from trading_core.config import ConfigError, get_config, get_paths

COMMANDS_WITH_EFFECT: dict[str, str] = {
    "pause": "exits only (REDUCING)",
    "resume": "trade again (ACTIVE); the drawdown peak restarts at the equity",
    "close-all": "cancel working entries and sell every position",
    "halt": "nothing new at all (HALTED); cancel working entries",
    "review": "the operator's review: leave capital preservation once its cooldown is over "
    "(--instance ID: end that instance's losing-streak demotion to paper)",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trading control", description="Operator commands for the running executor."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--reason", default="no reason given", help="why (kept in the audit)")
    common.add_argument("--who", default=None, help="who issues it (default: the OS user)")
    common.add_argument(
        "--ledger-url",
        default=None,
        help="default: TRADING_LEDGER_URL or the SQLite ledger under TRADING_HOME",
    )
    common.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to SECONDS for the executor to apply the command",
    )
    timed = argparse.ArgumentParser(add_help=False)
    when = timed.add_mutually_exclusive_group()
    when.add_argument(
        "--for",
        dest="duration",
        metavar="DURATION",
        help="for how long, e.g. 30m, 2h, 1d (default: until lifted)",
    )
    when.add_argument("--until", metavar="TIME",
                      help="until an ISO time, UTC unless it names an offset")  # fmt: skip
    symbol_help = "unified symbol, e.g. BTC/USDT (BTC-USDT also accepted)"
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, what in COMMANDS_WITH_EFFECT.items():
        one = sub.add_parser(name, parents=[common], help=what, description=what)
        if name == "review":
            one.add_argument("--instance", help="review this instance's losing-streak demotion")
    close = sub.add_parser("close-position", parents=[common], help="close one position")
    close.add_argument("symbol", help=symbol_help)
    risk = sub.add_parser(
        "set-risk", parents=[common, timed],
        help="scale or set the risk per trade (never above the tier's unless configured)",
    )  # fmt: skip
    how = risk.add_mutually_exclusive_group(required=True)
    how.add_argument("--scale", type=float, help="a multiple of the tier's risk per trade")
    how.add_argument("--risk-per-trade", type=float, metavar="FRACTION",
                     help="risk per trade as a fraction of equity, e.g. 0.005")  # fmt: skip
    how.add_argument("--clear", action="store_true", help="back to the tier's risk per trade")
    for name, what in (
        ("blacklist", "no new entries in SYMBOL (exits keep working)"),
        ("unblacklist", "allow entries in SYMBOL again"),
    ):
        one = sub.add_parser(name, parents=[common, timed] if name == "blacklist" else [common],
                             help=what)  # fmt: skip
        one.add_argument("symbol", help=symbol_help)
    force = sub.add_parser("force-exit", parents=[common],
                           help="sell SYMBOL's position now (exit reason force_exit)")  # fmt: skip
    force.add_argument("symbol", help=symbol_help)
    force.add_argument("--instance", help="only this strategy instance's sub-position")
    for name, what in (
        ("pause-instance", "no new entries for one strategy instance (exits keep working)"),
        ("resume-instance", "entries again for a paused strategy instance"),
    ):
        one = sub.add_parser(
            name, parents=[common, timed] if name == "pause-instance" else [common], help=what
        )
        one.add_argument("instance", help="the instance id (strategies: list, or default)")
    sub.add_parser("status", parents=[common], help="print state, positions and commands")
    return parser


def _normalize_symbol(symbol: str) -> str:
    if "/" in symbol:
        return symbol
    base, sep, quote = symbol.partition("-")
    if not sep or not base or not quote:
        raise ValueError(f"symbol {symbol!r} must look like BTC/USDT or BTC-USDT")
    return f"{base}/{quote}"


def status(ledger: Ledger) -> dict[str, Any]:
    cfg = get_config()
    risk = ledger.risk_record()
    account = ledger.account(cfg.executor.quote_currency)
    return {
        "trading_state": risk.state,
        "reason": risk.reason,
        "since": risk.updated_at,
        "by": risk.updated_by,
        "peak_equity": risk.peak_equity,
        "protocol": json.loads(ledger.protocol_state() or "null"),
        "overrides": _overrides(ledger),
        "account": vars(account),
        "positions": [
            {
                "symbol": p.symbol,
                "exchange": p.exchange,
                "instance": p.instance_id,
                "quantity": p.quantity,
                "avg_entry_price": p.avg_entry_price,
                "last_price": p.last_price,
                "realized_pnl_gross": p.realized_pnl_gross,
                "realized_pnl_net": p.realized_pnl_net,
                "fees_quote": p.fees_quote,
                "stop_loss": p.stop_loss,
                "take_profit": p.take_profit,
            }
            for p in ledger.open_positions()
        ],
        "pending_commands": [vars(c) for c in ledger.commands(pending_only=True)],
        "recent_commands": [vars(c) for c in ledger.commands(limit=10)],
        "health": read_health(get_paths().executor_state),
    }


def _overrides(ledger: Ledger) -> dict[str, Any]:
    try:
        return override_ledger.load(ledger).summary(ledger.now())
    except OverrideError as exc:
        return {"error": str(exc)}


def _record(ledger: Ledger, args: argparse.Namespace, who: str) -> int:
    """The command's id, once checked (``OverrideError`` / ``ValueError``: not recorded)."""
    if not 1 <= len(who) <= 64:
        raise ValueError(f"--who must be 1..64 characters, got {len(who)}")
    if args.command in OVERRIDE_COMMANDS:
        return override_ledger.issue(
            ledger,
            get_config(),
            args.command,
            who=who,
            why=args.reason,
            symbol=getattr(args, "symbol", None),
            instance=getattr(args, "instance", None),
            scale=getattr(args, "scale", None),
            risk_per_trade=getattr(args, "risk_per_trade", None),
            clear=getattr(args, "clear", False),
            duration=getattr(args, "duration", None),
            until=getattr(args, "until", None),
        )
    symbol = _normalize_symbol(args.symbol) if args.command == "close-position" else None
    instance = getattr(args, "instance", None)
    if instance is None:
        return ledger.add_command(args.command, who, args.reason, symbol)
    known = override_ledger.context_for(get_config(), None, ledger.now()).instances
    if instance not in known:
        raise OverrideError(f"unknown instance {instance!r}; configured: {sorted(known)}")
    return ledger.add_command(
        args.command, who, args.reason, symbol, {"instance": instance, "source": "cli"}
    )


def _wait_applied(ledger: Ledger, command_id: int, seconds: float) -> str | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for command in ledger.commands(limit=50):
            if command.id == command_id and command.applied_at is not None:
                return command.result
        time.sleep(0.2)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        get_config()  # a bad configuration: one line, exit 2 (not a traceback later)
        ledger = Ledger(args.ledger_url or get_paths().ledger_url())
    except (ConfigError, sa.exc.SQLAlchemyError, OSError) as exc:
        print(f"trading control {args.command}: error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "status":
            print(json.dumps(status(ledger), default=str, indent=2))
            return 0
        who = args.who or getpass.getuser()
        try:
            command_id = _record(ledger, args, who)
        except ValueError as exc:  # OverrideError too
            print(f"trading control {args.command}: error: {exc}", file=sys.stderr)
            return 2
        print(
            f"command {command_id} ({args.command}) recorded; the executor applies it on "
            "its next tick"
        )
        if args.wait > 0:
            result = _wait_applied(ledger, command_id, args.wait)
            if result is None:
                print(
                    f"not applied within {args.wait:g} s (is the executor running?)",
                    file=sys.stderr,
                )
                return 1
            print(f"applied: {result}")
        return 0
    finally:
        ledger.close()


if __name__ == "__main__":
    sys.exit(main())
