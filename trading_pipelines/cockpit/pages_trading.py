"""The trading pages, read from the ledger alone (no warehouse, no Dagster): overview (with
the risk protocol's stage and the overrides in force), instances (with pause/resume per
instance), positions, trades; the operator actions page is ``pages_actions``'s."""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from trading_core.config_portfolio import MANUAL_INSTANCE
from trading_pipelines.cockpit import pages_actions
from trading_pipelines.cockpit.alerts_reader import latest_alerts
from trading_pipelines.cockpit.api import cockpit_of
from trading_pipelines.cockpit.charts import line_chart
from trading_pipelines.cockpit.html import money, num, page, state_badge, table, text, when
from trading_pipelines.cockpit.pages_actions import SCRIPT, button, write_controls


def _card(label: str, value: str, card_id: str) -> str:
    return f'<div class="card" id="{card_id}">{escape(label)}<b>{value}</b></div>'


def overview(request: Request) -> str:
    cockpit = cockpit_of(request)
    status = cockpit.status()
    held = {p["symbol"] for p in status["positions"]}
    curve = cockpit.reader.equity(max_points=400)
    alerts = latest_alerts(cockpit.paths.home, 20)
    quote = curve["quote"]
    points = [(p["at"], p["equity"]) for p in curve["points"]]
    drawdown = [(p["at"], p["drawdown"]) for p in curve["points"]]
    cards = "".join(
        [
            _card("Trading state", state_badge(status["trading_state"]), "card-state"),
            _card(f"Equity ({quote})", f"{status['equity']:,.2f}", "card-equity"),
            _card("Today's P&L (UTC)", money(status["today_pnl"]), "card-today"),
            _card("Drawdown", f"{curve['current_drawdown']:.2%}", "card-drawdown"),
            _card("Max drawdown", f"{curve['max_drawdown']:.2%}", "card-max-drawdown"),
            # markets held: one symbol held by two instances is one position of the account
            _card("Open positions", str(len(held)), "card-positions"),
            _card("Executor", escape(cockpit.executor_status()), "card-executor"),
        ]
    )
    stage = (
        f"<p id=protocol>Trading state: {state_badge(status['trading_state'], None)} since "
        f"{text(when(status['since']))} by {text(status['by'])}: {text(status['reason'])}"
        f" · peak equity {num(status['peak_equity'])}</p>"
        f"<h2>Risk protocol</h2>{_words(status['protocol_stage']['words'], 'protocol-stage')}"
        "<h2>Operator overrides</h2>"
        f"{_words(status['override_words'], 'overrides', 'No operator override in force.')}"
    )
    alert_rows = table(
        alerts["alerts"],
        [
            ("at", "At (UTC)", text),
            ("severity", "Severity", text),
            ("title", "Title", text),
            ("message", "Message", text),
        ],
        table_id="alerts",
        empty="No alerts.",
    )
    unreadable = alerts["unreadable_lines"]
    note = (
        f"<p class=empty>{unreadable} unreadable line(s) in alerts.jsonl.</p>" if unreadable else ""
    )
    body = (
        f'<div class="cards">{cards}</div>{stage}'
        f"<h2>Equity ({escape(quote)})</h2>"
        f"{line_chart(points, title=f'Equity ({quote})', chart_id='equity-chart')}"
        "<h2>Drawdown</h2>"
        f"{line_chart(drawdown, title='Drawdown', chart_id='dd-chart', percent=True, invert=True)}"
        f"<h2>Alerts</h2>{alert_rows}{note}"
    )
    return page("/", "Overview", body)


def _words(lines: list[str], element_id: str, empty: str = "") -> str:
    if not lines:
        return f'<p class="empty" id="{element_id}">{escape(empty)}</p>'
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return f'<ul class="words" id="{element_id}">{items}</ul>'


def _status(row: dict[str, Any]) -> str:
    if row["paused"] is None:
        return text(row["status"])
    until = row["paused"]["until"]
    return (
        f'<span class="paused">paused</span> by {text(row["paused"]["by"])}'
        f"{' until ' + text(until[:16]) if until else ''}"
    )


def _pause_button(row: dict[str, Any]) -> str:
    if not row["configured"] and row["instance"] != MANUAL_INSTANCE:
        return ""
    resume = row["paused"] is not None
    action = "resume-instance" if resume else "pause-instance"
    label = "Resume" if resume else "Pause"
    return button(action, label, f"{action}-{row['instance']}", instance=row["instance"])


def instances(request: Request) -> str:
    cockpit = cockpit_of(request)
    rows = cockpit.instances_now()
    for row in rows:
        row["pairs_text"] = ", ".join(row["pairs"])
        row["position_text"] = (
            ", ".join(f"{p['symbol']} {p['quantity']:.8g}" for p in row["positions"]) or "flat"
        )
        row["status_html"] = _status(row)
        row["action_html"] = _pause_button(row)
    columns: list[tuple[str, str, Any]] = [
        ("instance", "Instance", text), ("strategy", "Strategy", text),
        ("timeframe", "Timeframe", text), ("pairs_text", "Pairs", text),
        ("exchange", "Exchange", text), ("mode", "Mode", text),
        ("position_text", "Position", text), ("unrealized_pnl", "Unrealized P&L", money),
        ("today_pnl", "Today's P&L", money), ("risk_profile", "Risk profile", text),
        ("risk_level", "Risk level", lambda v: state_badge(v, None)),
        ("streak_phase", "Streak", text), ("tier_text", "Tier", text),
        ("status_html", "Status", str), ("action_html", "", str),
    ]  # fmt: skip
    body = (
        table(rows, columns, table_id="instances", empty="No instances.")
        + "<p>Pause stops new entries of one instance; its exits keep working.</p>"
        + write_controls(cockpit)
        + SCRIPT
    )
    return page("/instances", "Strategy instances", body)


def positions(request: Request) -> str:
    rows = cockpit_of(request).reader.positions()
    columns: list[tuple[str, str, Any]] = [
        ("symbol", "Symbol", text), ("exchange", "Exchange", text),
        ("strategy", "Strategy", text), ("quantity", "Quantity", num),
        ("avg_entry_price", "Entry", num), ("last_price", "Last", num),
        ("market_value", "Value", num), ("unrealized_pnl", "Unrealized P&L", money),
        ("realized_pnl", "Realized P&L", money), ("stop_loss", "Stop", num),
        ("take_profit", "Take profit", num), ("opened_at", "Opened (UTC)", when),
    ]  # fmt: skip
    return page("/positions", "Positions",
                table(rows, columns, table_id="positions", empty="No open positions."))  # fmt: skip


def trades(request: Request) -> str:
    rows = cockpit_of(request).reader.trades(100)
    columns: list[tuple[str, str, Any]] = [
        ("created_at", "At (UTC)", when), ("symbol", "Symbol", text), ("side", "Side", text),
        ("role", "Role", text), ("state", "State", text),
        ("filled_quantity", "Filled", num), ("average_price", "Avg price", num),
        ("fee", "Fee", num), ("fee_currency", "Fee ccy", text),
        ("strategy", "Strategy", text), ("reason", "Reason", text),
    ]  # fmt: skip
    note = "<p>The 100 most recent orders that traded; all of them: /api/v1/trades.</p>"
    return page("/trades", "Recent trades",
                note + table(rows, columns, table_id="trades", empty="No trades yet."))  # fmt: skip


def build_trading_pages() -> APIRouter:
    router = APIRouter()
    for path, view in (("/", overview), ("/instances", instances), ("/positions", positions),
                       ("/trades", trades), ("/actions", pages_actions.actions)):  # fmt: skip
        router.add_api_route(path, view, methods=["GET"], response_class=HTMLResponse)
    return router
