"""Line charts as inline SVG, drawn on the server (no JavaScript, no CDN)."""

from __future__ import annotations

import math
from datetime import datetime
from html import escape

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD = 720, 220, 70, 24, 10


def _fmt(value: float) -> str:
    return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def line_chart(
    points: list[tuple[datetime, float]],
    *,
    title: str,
    chart_id: str,
    percent: bool = False,
    invert: bool = False,
) -> str:
    """An SVG line chart of ``points`` (time, value); a plain message when there are none.

    ``invert`` draws larger values lower (a drawdown hangs below zero)."""
    if not points:
        return f'<p class="empty" id="{chart_id}">{escape(title)}: no data yet.</p>'
    values = [v for _, v in points]
    low, high = min(values), max(values)
    if invert:
        low = min(low, 0.0)
    if math.isclose(low, high):
        low, high = low - (abs(low) * 0.01 or 1.0), high + (abs(high) * 0.01 or 1.0)
    t0 = points[0][0].timestamp()
    span = (points[-1][0].timestamp() - t0) or 1.0
    inner_w, inner_h = WIDTH - PAD_LEFT - PAD, HEIGHT - PAD_BOTTOM - PAD

    def xy(at: datetime, value: float) -> str:
        x = PAD_LEFT + (at.timestamp() - t0) / span * inner_w
        fraction = (value - low) / (high - low)
        y = PAD + (fraction if invert else 1 - fraction) * inner_h
        return f"{x:.1f},{y:.1f}"

    path = " ".join(xy(at, v) for at, v in points)
    label = (lambda v: f"{v:.1%}") if percent else _fmt
    top, bottom = (low, high) if invert else (high, low)
    return (
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<rect x="{PAD_LEFT}" y="{PAD}" width="{inner_w}" height="{inner_h}" class="frame"/>'
        f'<text x="{PAD_LEFT - 6}" y="{PAD + 10}" text-anchor="end">{label(top)}</text>'
        f'<text x="{PAD_LEFT - 6}" y="{PAD + inner_h}" text-anchor="end">{label(bottom)}</text>'
        f'<text x="{PAD_LEFT}" y="{HEIGHT - 6}">{points[0][0]:%Y-%m-%d %H:%M}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 6}" text-anchor="end">'
        f"{points[-1][0]:%Y-%m-%d %H:%M} UTC</text>"
        f'<polyline points="{path}" class="line"/></svg>'
    )
