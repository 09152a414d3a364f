"""The interactive half of ``trading plot``: one self-contained HTML file, no dependency.

The bars, the indicator lines and the fills are embedded as JSON; a small script draws them
on canvases (the price with its overlays and fills on top, one panel per indicator group)
and makes them interactive: the mouse wheel zooms the time axis around the pointer, a drag
pans it, double-click resets, and hovering shows the bar's time, OHLC, every line's value
and the fills of that bar. Nothing is loaded from the network.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trading_core.research.plot import Panels

_SCRIPT = r"""
const D = JSON.parse(document.getElementById('data').textContent);
const n = D.t.length, colors = ['#1f77b4','#ff7f0e','#2ca02c','#9467bd','#8c564b','#17becf'];
let lo = 0, hi = n - 1, hover = -1;
const panels = [{name: 'price', lines: Object.assign({close: D.close}, D.overlays),
                 levels: {}, height: 420, marks: true}]
  .concat(Object.keys(D.below).map(k => ({name: k, lines: D.below[k],
                 levels: D.levels[k] || {}, height: 160, marks: false})));
const root = document.getElementById('chart'), info = document.getElementById('info');
panels.forEach(p => { p.c = document.createElement('canvas'); p.c.height = p.height;
  p.c.style.width = '100%'; root.appendChild(p.c); });
function x(i, w) { return 50 + (i - lo) / Math.max(1, hi - lo) * (w - 60); }
function draw() {
  panels.forEach(p => {
    const c = p.c, w = c.width = c.clientWidth, h = c.height, g = c.getContext('2d');
    let mn = Infinity, mx = -Infinity;
    Object.values(p.lines).forEach(v => { for (let i = lo; i <= hi; i++) if (v[i] !== null) {
      mn = Math.min(mn, v[i]); mx = Math.max(mx, v[i]); } });
    Object.values(p.levels).forEach(v => { mn = Math.min(mn, v); mx = Math.max(mx, v); });
    if (!(mx > mn)) { mx = mn + 1; }
    const y = v => h - 20 - (v - mn) / (mx - mn) * (h - 30);
    g.clearRect(0, 0, w, h); g.font = '11px sans-serif'; g.fillStyle = '#333';
    g.fillText(p.name, 52, 12); g.fillText(mx.toPrecision(6), 2, 14);
    g.fillText(mn.toPrecision(6), 2, h - 20);
    Object.entries(p.levels).forEach(([k, v]) => { g.strokeStyle = '#999';
      g.setLineDash([3, 3]); g.beginPath(); g.moveTo(50, y(v)); g.lineTo(w - 10, y(v));
      g.stroke(); g.setLineDash([]); g.fillText(k, w - 80, y(v) - 2); });
    Object.entries(p.lines).forEach(([k, v], j) => {
      g.strokeStyle = k === 'close' ? '#000' : colors[j % colors.length]; g.lineWidth = 1;
      g.beginPath(); let on = false;
      for (let i = lo; i <= hi; i++) { if (v[i] === null) { on = false; continue; }
        if (on) g.lineTo(x(i, w), y(v[i])); else { g.moveTo(x(i, w), y(v[i])); on = true; } }
      g.stroke(); });
    if (p.marks) D.marks.forEach(m => { if (m.i < lo || m.i > hi) return;
      g.fillStyle = m.side === 'entry' ? 'green' : 'red'; g.beginPath();
      const px = x(m.i, w), py = y(m.price), s = m.side === 'entry' ? 1 : -1;
      g.moveTo(px, py + 8 * s); g.lineTo(px - 5, py + 16 * s); g.lineTo(px + 5, py + 16 * s);
      g.fill(); });
    if (hover >= lo && hover <= hi) { g.strokeStyle = '#bbb'; g.beginPath();
      g.moveTo(x(hover, w), 0); g.lineTo(x(hover, w), h); g.stroke(); }
  });
}
function index(ev) { const r = ev.target.getBoundingClientRect();
  return Math.round(lo + (ev.clientX - r.left - 50) / (r.width - 60) * (hi - lo)); }
let drag = null;
panels.forEach(p => {
  p.c.addEventListener('wheel', ev => { ev.preventDefault(); const i = index(ev);
    const f = ev.deltaY < 0 ? 0.8 : 1.25, span = Math.max(10, (hi - lo) * f);
    lo = Math.max(0, Math.round(i - (i - lo) * span / (hi - lo)));
    hi = Math.min(n - 1, Math.round(lo + span)); draw(); });
  p.c.addEventListener('mousedown', ev => { drag = {x: ev.clientX, lo: lo, hi: hi}; });
  p.c.addEventListener('dblclick', () => { lo = 0; hi = n - 1; draw(); });
  p.c.addEventListener('mousemove', ev => {
    if (drag) { const r = ev.target.getBoundingClientRect();
      const shift = Math.round((drag.x - ev.clientX) / (r.width - 60) * (drag.hi - drag.lo));
      const s = Math.max(-drag.lo, Math.min(n - 1 - drag.hi, shift));
      lo = drag.lo + s; hi = drag.hi + s; }
    hover = Math.max(0, Math.min(n - 1, index(ev)));
    const parts = [D.t[hover], 'O ' + D.open[hover], 'H ' + D.high[hover],
      'L ' + D.low[hover], 'C ' + D.close[hover]];
    panels.forEach(q => Object.entries(q.lines).forEach(([k, v]) => { if (k !== 'close')
      parts.push(k + ' ' + (v[hover] === null ? '-' : v[hover].toPrecision(6))); }));
    D.marks.filter(m => m.i === hover).forEach(m => parts.push(m.side + ' @ ' + m.price +
      ' (' + m.reason + ')'));
    info.textContent = parts.join('   '); draw(); });
});
window.addEventListener('mouseup', () => { drag = null; });
window.addEventListener('resize', draw);
draw();
"""


def _values(series: pd.Series) -> list[float | None]:
    return [None if not math.isfinite(v) else round(float(v), 10) for v in series.to_numpy(float)]


def plot_data(bars: pd.DataFrame, panels: Panels, marks: pd.DataFrame) -> dict[str, Any]:
    """The JSON the page draws: bars, lines (NaN as null), fills with their bar index."""
    ts = pd.DatetimeIndex(bars["ts"])
    positions = np.searchsorted(ts.to_numpy(), pd.DatetimeIndex(marks["ts"]).to_numpy())
    return {
        "t": [t.isoformat() for t in ts],
        **{k: _values(bars[k]) for k in ("open", "high", "low", "close")},
        "overlays": {k: _values(v) for k, v in panels.overlays.items()},
        "below": {
            p: {k: _values(v) for k, v in lines.items()} for p, lines in panels.below.items()
        },
        "levels": panels.levels,
        "marks": [
            {"i": int(i), "price": float(m.price), "side": m.side, "reason": str(m.reason)}
            for i, m in zip(positions, marks.itertuples(index=False), strict=True)
        ],
    }


def plot_html(
    path: Path, bars: pd.DataFrame, panels: Panels, marks: pd.DataFrame, title: str
) -> Path:
    """Write the interactive page (see the module docstring) to ``path``."""
    data = json.dumps(plot_data(bars, panels, marks)).replace("</", "<\\/")
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:12px}#info{font-size:12px;"
        "min-height:1.4em;white-space:pre}canvas{display:block;border-bottom:1px solid #eee}"
        "</style></head><body>"
        f"<h3>{html.escape(title)}</h3>"
        "<div>wheel: zoom &middot; drag: pan &middot; double-click: reset</div>"
        "<div id='info'></div><div id='chart'></div>"
        f"<script id='data' type='application/json'>{data}</script>"
        f"<script>{_SCRIPT}</script></body></html>"
    )
    path.write_text(page)
    return path
