"""The signals page: per market, the latest composite signal with its reasons and the
current regime, from the warehouse snapshot (never the live warehouse). Without a snapshot
it says so plainly."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from trading_pipelines.cockpit.api import cockpit_of
from trading_pipelines.cockpit.html import num, page, table, text, when


def _reasons(value: Any) -> str:
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True, default=str)
    shown = text(value)
    return f"<small>{shown[:600]}{'…' if len(shown) > 600 else ''}</small>"


def signals(request: Request) -> str:
    data = cockpit_of(request).snapshot.signals(history=5)
    if not data["available"]:
        return page("/signals", "Signals", f'<p id="no-snapshot">{escape(data["message"])}</p>')
    columns: list[tuple[str, str, Any]] = [
        ("exchange", "Exchange", text), ("symbol", "Symbol", text),
        ("timeframe", "Timeframe", text), ("ts", "Bar (UTC)", when), ("close", "Close", num),
        ("regime", "Regime", text), ("score", "Score", num), ("confidence", "Confidence", num),
        ("action", "Action", text), ("reasons", "Reasons", _reasons),
    ]  # fmt: skip
    intro = (
        f"<p id=snapshot-time>From the warehouse snapshot taken {text(when(data['taken_at']))}"
        " UTC (cockpit/warehouse_snapshot), not the live warehouse.</p>"
    )
    latest = table(data["markets"], columns, table_id="signals", empty="The snapshot is empty.")
    history = "".join(
        f"<h3>{text(m['symbol'])} {text(m['timeframe'])} ({text(m['exchange'])})</h3>"
        + table(m["history"], columns[3:], table_id=f"history-{i}", empty="No earlier bars.")
        for i, m in enumerate(data["markets"])
    )
    return page("/signals", "Signals", f"{intro}{latest}<h2>Earlier bars</h2>{history}")


def build_signal_pages() -> APIRouter:
    router = APIRouter()
    router.add_api_route("/signals", signals, methods=["GET"], response_class=HTMLResponse)
    return router
