"""Operator commands: ``pause | resume | close-all | close-position SYMBOL | halt | review |
status``.

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
- ``status``: print the state, account, positions, recent commands and health as JSON.

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

from executor.health import read_health
from executor.ledger import Ledger
from trading_core.config import ConfigError, get_config, get_paths

COMMANDS_WITH_EFFECT: tuple[str, ...] = ("pause", "resume", "close-all", "halt", "review")


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
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS_WITH_EFFECT:
        sub.add_parser(name, parents=[common], help=f"{name} trading")
    close = sub.add_parser("close-position", parents=[common], help="close one position")
    close.add_argument("symbol", help="unified symbol, e.g. BTC/USDT (BTC-USDT also accepted)")
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
        try:
            symbol = _normalize_symbol(args.symbol) if args.command == "close-position" else None
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        who = args.who or getpass.getuser()
        command_id = ledger.add_command(args.command, who, args.reason, symbol)
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
