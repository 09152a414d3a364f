"""The trading pages, read from the ledger alone (no warehouse, no Dagster): overview,
instances, positions, trades and the operator actions."""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from trading_pipelines.cockpit.alerts_reader import latest_alerts
from trading_pipelines.cockpit.api import cockpit_of
from trading_pipelines.cockpit.charts import line_chart
from trading_pipelines.cockpit.html import money, num, page, table, text, when


def _state(state: str) -> str:
    return f'<span class="{escape(state)}" id="trading-state">{escape(state)}</span>'


def _card(label: str, value: str, card_id: str) -> str:
    return f'<div class="card" id="{card_id}">{escape(label)}<b>{value}</b></div>'


def overview(request: Request) -> str:
    cockpit = cockpit_of(request)
    status = cockpit.status()
    curve = cockpit.reader.equity(max_points=400)
    alerts = latest_alerts(cockpit.paths.home, 20)
    quote = curve["quote"]
    points = [(p["at"], p["equity"]) for p in curve["points"]]
    drawdown = [(p["at"], p["drawdown"]) for p in curve["points"]]
    cards = "".join(
        [
            _card("Trading state", _state(status["trading_state"]), "card-state"),
            _card(f"Equity ({quote})", f"{status['equity']:,.2f}", "card-equity"),
            _card("Today's P&L (UTC)", money(status["today_pnl"]), "card-today"),
            _card("Drawdown", f"{curve['current_drawdown']:.2%}", "card-drawdown"),
            _card("Max drawdown", f"{curve['max_drawdown']:.2%}", "card-max-drawdown"),
            _card("Open positions", str(len(status["positions"])), "card-positions"),
            _card("Executor", escape(cockpit.executor_status()), "card-executor"),
        ]
    )
    stage = (
        f"<p id=protocol>Risk protocol: {_state(status['trading_state'])} since "
        f"{text(when(status['since']))} by {text(status['by'])}: {text(status['reason'])}"
        f" · peak equity {num(status['peak_equity'])}</p>"
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


def instances(request: Request) -> str:
    rows = cockpit_of(request).status()["instances"]
    for row in rows:
        row["pairs_text"] = ", ".join(row["pairs"])
        row["position_text"] = (
            ", ".join(f"{p['symbol']} {p['quantity']:.8g}" for p in row["positions"]) or "flat"
        )
    columns: list[tuple[str, str, Any]] = [
        ("instance", "Instance", text), ("strategy", "Strategy", text),
        ("timeframe", "Timeframe", text), ("pairs_text", "Pairs", text),
        ("exchange", "Exchange", text), ("mode", "Mode", text),
        ("position_text", "Position", text), ("unrealized_pnl", "Unrealized P&L", money),
        ("today_pnl", "Today's P&L", money), ("risk_level", "Risk level", _state),
        ("tier", "Tier", lambda v: text(v if v is not None else "—")),
        ("status", "Status", text),
    ]  # fmt: skip
    return page("/instances", "Strategy instances",
                table(rows, columns, table_id="instances", empty="No instances."))  # fmt: skip


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


def actions(request: Request) -> str:
    cockpit = cockpit_of(request)
    held = [p["symbol"] for p in cockpit.reader.positions()]
    options = "".join(f"<option>{escape(s)}</option>" for s in held)
    mode = (
        "<p>Writes need the cockpit token (TRADING_COCKPIT_TOKEN); it is kept in this tab only.</p>"
        if cockpit.token.configured
        else "<p id=read-only><b>Read-only:</b> no TRADING_COCKPIT_TOKEN is configured, so "
        "every action is refused.</p>"
    )
    buttons = "".join(
        f'<button data-action="{a}" id="do-{a}">{label}</button>'
        for a, label in (
            ("pause", "Pause (exits only)"),
            ("resume", "Resume"),
            ("close-all", "Close all"),
            ("halt", "Halt"),
        )
    )
    close = (
        f'<p><select id="symbol">{options}</select>'
        '<button data-action="close-position" id="do-close-position">Close position</button></p>'
        if held
        else "<p class=empty>No open position to close.</p>"
    )
    commands = table(
        cockpit.reader.commands(20),
        [
            ("id", "#", num),
            ("command", "Command", text),
            ("symbol", "Symbol", text),
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
        f"<p>Trading state: {_state(cockpit.ledger.trading_state())}</p>{mode}"
        '<p><label>Token <input id="token" type="password" autocomplete="off"></label> '
        '<label>Reason <input id="reason" size="40" maxlength="500"></label></p>'
        f'<p>{buttons}</p>{close}<div id="result" role="status"></div>'
        f"<h2>Recent commands</h2>{commands}"
        '<script src="/static/cockpit.js"></script>'
    )
    return page("/actions", "Operator actions", body)


def build_trading_pages() -> APIRouter:
    router = APIRouter()
    for path, view in (("/", overview), ("/instances", instances), ("/positions", positions),
                       ("/trades", trades), ("/actions", actions)):  # fmt: skip
        router.add_api_route(path, view, methods=["GET"], response_class=HTMLResponse)
    return router
