"""The cockpit's page layout and small HTML helpers (everything escaped)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from html import escape
from typing import Any

NAV = (
    ("/", "Overview"),
    ("/instances", "Instances"),
    ("/positions", "Positions"),
    ("/trades", "Trades"),
    ("/signals", "Signals"),
    ("/reports", "Reports"),
    ("/actions", "Actions"),
)

STYLE = """
body{font:14px system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:18px;align-items:center}
header a{color:#cfd6e4;text-decoration:none}header a.here{color:#fff;font-weight:600}
main{padding:16px 20px;max-width:1400px}
table{border-collapse:collapse;background:#fff;width:100%;margin:8px 0 18px}
th,td{border-bottom:1px solid #e3e6eb;padding:5px 8px;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#fff;padding:10px 14px;
border-radius:6px;min-width:150px}.card b{display:block;font-size:20px}
.ACTIVE{color:#17803d}.REDUCING{color:#b36b00}.HALTED{color:#c0262d}
.pos{color:#17803d}.neg{color:#c0262d}.empty{color:#667;font-style:italic}
svg.chart{background:#fff;width:100%;max-width:760px;height:auto}
svg .frame{fill:none;stroke:#e3e6eb}svg .line{fill:none;stroke:#2d62c8;stroke-width:1.6}
svg text{font-size:11px;fill:#556}
button{padding:6px 12px;margin:2px}#result{margin:8px 0;font-weight:600}
.paused{color:#b36b00;font-weight:600}ul.words{margin:4px 0 12px;padding-left:20px}
"""


def num(value: Any, digits: int = 6) -> str:
    if value is None:
        return ""
    if isinstance(value, float | int):
        return f"{value:,.{digits}g}"
    return escape(str(value))


def money(value: float | None) -> str:
    if value is None:
        return ""
    css = "pos" if value > 0 else "neg" if value < 0 else ""
    return f'<span class="{css}">{value:+,.2f}</span>'


def when(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


def table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str, Callable[[Any], str]]],
    *,
    table_id: str,
    empty: str,
) -> str:
    """``columns``: (key, heading, formatter returning HTML)."""
    if not rows:
        return f'<p class="empty" id="{table_id}">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for _, h, _ in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"num" if isinstance(row.get(k), float | int) else ""}">'
            f"{fmt(row.get(k))}</td>"
            for k, _, fmt in columns
        )
        + "</tr>"
        for row in rows
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def state_badge(state: str, element_id: str | None = "trading-state") -> str:
    """A trading state (ACTIVE / REDUCING / HALTED) in its colour."""
    where = f' id="{element_id}"' if element_id else ""
    return f'<span class="{escape(state)}"{where}>{escape(state)}</span>'


def text(value: Any) -> str:
    return "" if value is None else escape(str(value))


def page(path: str, title: str, body: str) -> str:
    nav = "".join(
        f'<a href="{href}" class="{"here" if href == path else ""}">{escape(name)}</a>'
        for href, name in NAV
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · Trading cockpit</title><style>{STYLE}</style></head>"
        f"<body><header><strong>Trading cockpit</strong>{nav}</header>"
        f"<main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
