"""``trading plot``: PNG and interactive HTML with the strategy's indicators and fills."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from trading_core.backtest import BacktestConfig, read_ohlcv_csv, run_backtest
from trading_core.research.plot import strategy_panels, trade_marks
from trading_core.research.plot_html import plot_data
from trading_core.strategies import get_strategy
from trading_pipelines.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# A minimal DOM for node: canvases record their drawing calls; events are fired by hand.
NODE_HARNESS = r"""
const fs = require('fs');
const page = fs.readFileSync(process.argv[2], 'utf8');
const data = page.match(/<script id='data' type='application\/json'>([\s\S]*?)<\/script>/)[1];
const script = page.match(/<script>([\s\S]*?)<\/script><\/body>/)[1];
const calls = {lineTo: 0, fill: 0}, canvases = [], info = {textContent: ''};
function context() { return new Proxy({}, {get: (t, k) => k in t ? t[k] : (...a) => {
  if (k in calls) calls[k]++; }, set: (t, k, v) => { t[k] = v; return true; }}); }
global.document = {
  getElementById: id => id === 'data' ? {textContent: data} : id === 'info' ? info
    : {appendChild: () => {}},
  createElement: () => { const h = {}; const c = {style: {}, height: 0, clientWidth: 800,
    getContext: () => context(), addEventListener: (e, f) => { h[e] = f; },
    getBoundingClientRect: () => ({left: 0, width: 800}), handlers: h};
    canvases.push(c); return c; }};
global.window = {addEventListener: () => {}};
eval(script);
const c = canvases[0], ev = {target: c, clientX: 400, deltaY: -1, preventDefault: () => {}};
c.handlers.mousemove(ev); c.handlers.wheel(ev); c.handlers.mousedown(ev);
c.handlers.mousemove(Object.assign({}, ev, {clientX: 300})); c.handlers.dblclick(ev);
console.log(JSON.stringify({panels: canvases.length, calls: calls, info: info.textContent}));
"""


@pytest.fixture(scope="module")
def xrp_4h(shared_data: Path) -> Path:
    return shared_data / "market" / "binance_XRPUSDT_4h.csv"


@pytest.mark.parametrize(
    ("strategy", "overlays", "below"),
    [("macd", 0, ["MACD(12_26_9)"]), ("swing", 3, ["RSI(14)"]), ("grid", 2, ["ADX(14)"])],
)
def test_panels_and_marks_follow_the_strategy_and_its_trades(
    xrp_4h: Path, strategy: str, overlays: int, below: list[str]
) -> None:
    bars = read_ohlcv_csv(xrp_4h).iloc[-1500:].reset_index(drop=True)
    strat = get_strategy(strategy, {})
    panels = strategy_panels(strat, bars)
    assert len(panels.overlays) == overlays and list(panels.below) == below
    result = run_backtest(bars, strat, BacktestConfig())
    marks = trade_marks(result.trades, result.open_trade)
    assert (marks["side"] == "exit").sum() == len(result.trades)
    assert (marks["side"] == "entry").sum() == len(result.trades) + bool(result.open_trade)
    data = plot_data(bars, panels, marks)
    assert len(data["t"]) == len(data["close"]) == len(bars)
    for m, ts in zip(data["marks"], marks["ts"], strict=True):
        assert data["t"][m["i"]] == pd.Timestamp(ts).isoformat()


def test_cli_plot_writes_png_and_a_working_interactive_page(
    xrp_4h: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "charts" / "swing"
    argv = ["plot", "--ohlcv", str(xrp_4h), "--strategy", "swing", "--param", "oversold=35",
            "--start", "2025-01-01", "--stop-loss", "0.05", "--out", str(base)]  # fmt: skip
    assert main(argv) == 0
    assert "fills" in capsys.readouterr().out
    assert base.with_suffix(".png").read_bytes()[:8] == PNG_MAGIC
    page = base.with_suffix(".html").read_text()
    assert "http://" not in page and "https://" not in page  # self-contained
    data = json.loads(re.search(r"application/json'>(.*?)</script>", page, re.S).group(1))
    assert data["t"][0].startswith("2025-01-01") and "RSI(14)" in data["below"]
    assert data["levels"]["RSI(14)"]["oversold"] == 35
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the page's script was not executed")
    harness = tmp_path / "harness.js"
    harness.write_text(NODE_HARNESS)
    done = subprocess.run(
        [node, str(harness), str(base.with_suffix(".html"))],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    out = json.loads(done.stdout)
    assert out["panels"] == 2 and out["calls"]["lineTo"] > 1000 and out["calls"]["fill"] > 0
    assert out["info"].startswith("2025-") and "rsi" in out["info"]


def test_cli_plot_rejects_unknown_strategy_parameters(
    xrp_4h: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["plot", "--ohlcv", str(xrp_4h), "--strategy", "macd", "--param", "fats=3",
            "--out", str(tmp_path / "x")]  # fmt: skip
    assert main(argv) == 2
    assert "fats" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
