"""The operator actions page: pause/resume, close-all, close-position, halt, and the operator
overrides (set-risk, blacklist, unblacklist, force-exit, pause-instance, resume-instance).

Every button posts to ``/api/v1/control/{action}`` through ``static/cockpit.js`` with the
token the operator types in (never part of the page); the server checks everything again.
"""

from __future__ import annotations

from html import escape

from fastapi import Request

from trading_core.config_portfolio import MANUAL_INSTANCE, instances_of
from trading_pipelines.cockpit.api import cockpit_of
from trading_pipelines.cockpit.context import Cockpit
from trading_pipelines.cockpit.html import num, page, state_badge, table, text, when

SCRIPT = '<script src="/static/cockpit.js"></script>'
TIMED = "duration:duration,until:until"  # the inputs a timed override reads


def write_controls(cockpit: Cockpit) -> str:
    """The token and reason inputs, the read-only notice, and where results are shown."""
    mode = (
        "<p>Writes need the cockpit token (TRADING_COCKPIT_TOKEN); it is kept in this tab only.</p>"
        if cockpit.token.configured
        else "<p id=read-only><b>Read-only:</b> no TRADING_COCKPIT_TOKEN is configured, so "
        "every action is refused.</p>"
    )
    return (
        f"{mode}"
        '<p><label>Token <input id="token" type="password" autocomplete="off"></label> '
        '<label>Reason <input id="reason" size="40" maxlength="500"></label></p>'
        '<div id="result" role="status"></div>'
    )


def button(action: str, label: str, button_id: str, fields: str = "", **data: str) -> str:
    extra = "".join(f' data-{escape(k)}="{escape(v)}"' for k, v in data.items())
    wired = f' data-fields="{escape(fields)}"' if fields else ""
    return (
        f'<button data-action="{escape(action)}" id="{escape(button_id)}"{wired}{extra}>'
        f"{escape(label)}</button>"
    )


def _select(select_id: str, values: list[str], first: str | None = None) -> str:
    options = f'<option value="">{escape(first)}</option>' if first is not None else ""
    options += "".join(f"<option>{escape(v)}</option>" for v in values)
    return f'<select id="{select_id}">{options}</select>'


def _overrides_forms(cockpit: Cockpit, held: list[str]) -> str:
    config = cockpit.config
    instances = [i.id for i in instances_of(config)]
    if config.strategies.root is not None:
        instances.append(MANUAL_INSTANCE)
    timed = (
        '<label>For <input id="duration" size="6" maxlength="16" placeholder="2h"></label> '
        '<label>or until <input id="until" size="18" maxlength="40" '
        'placeholder="2026-12-24T18:00Z"></label> (blank: until lifted)'
    )
    off = (
        ""
        if config.strategies.root is not None
        else " <i>(needs the risk protocol: a strategies: list; refused without it)</i>"
    )
    risk = (
        f"<p><b>Risk per trade</b>{off} "
        '<label>scale <input id="scale" type="number" step="0.05" min="0" size="6"></label> '
        + button("set-risk", "Set scale", "do-set-risk", f"scale:scale,{TIMED}")
        + ' <label>or risk per trade <input id="risk-per-trade" type="number" step="0.001" '
        'min="0" size="6"></label> '
        + button("set-risk", "Set risk per trade", "do-set-risk-rpt",
                 f"risk_per_trade:risk-per-trade,{TIMED}")
        + " " + button("set-risk", "Clear", "do-set-risk-clear", clear="1") + "</p>"
    )  # fmt: skip
    blacklist = (
        f"<p><b>Blacklist</b> {_select('bl-symbol', list(config.market.symbols))} "
        + button("blacklist", "Blacklist (no entries)", "do-blacklist",
                 f"symbol:bl-symbol,{TIMED}")
        + " " + button("unblacklist", "Unblacklist", "do-unblacklist", "symbol:bl-symbol")
        + "</p>"
    )  # fmt: skip
    force = (
        f"<p><b>Force exit</b> {_select('fx-symbol', held)} "
        f"{_select('fx-instance', instances, first='every instance')} "
        + button("force-exit", "Force exit", "do-force-exit",
                 "symbol:fx-symbol,instance:fx-instance")
        + "</p>"
        if held
        else "<p class=empty>Force exit: no open position.</p>"
    )  # fmt: skip
    pause = (
        f"<p><b>Instance</b> {_select('pi-instance', instances)} "
        + button("pause-instance", "Pause instance (exits only)", "do-pause-instance",
                 f"instance:pi-instance,{TIMED}")
        + " " + button("resume-instance", "Resume instance", "do-resume-instance",
                       "instance:pi-instance")
        + "</p>"
    )  # fmt: skip
    return f"<h2>Operator overrides</h2><p>{timed}</p>{risk}{blacklist}{force}{pause}"


def actions(request: Request) -> str:
    cockpit = cockpit_of(request)
    held = sorted({p["symbol"] for p in cockpit.reader.positions()})
    buttons = " ".join(
        button(a, label, f"do-{a}")
        for a, label in (
            ("pause", "Pause (exits only)"),
            ("resume", "Resume"),
            ("close-all", "Close all"),
            ("halt", "Halt"),
        )
    )
    close = (
        f"<p>{_select('symbol', held)} "
        f"{button('close-position', 'Close position', 'do-close-position', 'symbol:symbol')}</p>"
        if held
        else "<p class=empty>No open position to close.</p>"
    )
    commands = table(
        cockpit.reader.commands(20),
        [
            ("id", "#", num),
            ("command", "Command", text),
            ("symbol", "Symbol", text),
            ("args", "Arguments", lambda v: text(_args_text(v))),
            ("who", "Who", text),
            ("why", "Why", text),
            ("issued_at", "Issued (UTC)", when),
            ("applied_at", "Applied (UTC)", when),
            ("result", "Result", text),
        ],
        table_id="commands",
        empty="No commands yet.",
    )
    body = (
        f"<p>Trading state: {state_badge(cockpit.ledger.trading_state())}</p>"
        f"{write_controls(cockpit)}<p>{buttons}</p>{close}"
        f"{_overrides_forms(cockpit, held)}"
        f"<h2>Recent commands</h2>{commands}{SCRIPT}"
    )
    return page("/actions", "Operator actions", body)


def _args_text(args: dict[str, object] | None) -> str:
    if not args:
        return ""
    return ", ".join(f"{k}={v}" for k, v in sorted(args.items()) if k not in ("source", "for"))
