"""A composite backtest with alternative data over a year of 1h bars (issue 19): the real
BTC/USDT 1h candles of 2021-04-05 .. 2022-04-05 and every item of ``../shared/data``
(3,940 tweets, 831 Reddit posts, 20 news items, the blockchain.com and Coin Metrics on-chain
files), exactly as ``trading backtest --alt-data DIR`` runs it, phase by phase:

- load: the directory through the ingest readers (parsing, symbols, VADER sentiment);
- assemble: :func:`trading_core.alt_inputs.assemble` (point in time, per bar);
- backtest: ``run_backtest`` of the composite strategy (indicators included);
- cli: the whole command in-process (``trading backtest ... --alt-data DIR --json``).

    .venv/bin/python benchmarks/alt_data_backtest.py [--repeat 3]

Target: the whole command <= 10 s. Times are medians of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trading_core.alt_data_dir import load_alt_directory  # noqa: E402
from trading_core.alt_inputs import assemble, counts  # noqa: E402
from trading_core.backtest import read_ohlcv_csv, run_backtest, window  # noqa: E402
from trading_core.strategies import get_strategy  # noqa: E402
from trading_pipelines.cli import main  # noqa: E402

DATA = ROOT / ".." / "shared" / "data"
OHLCV = DATA / "market" / "binance_BTCUSDT_1h.csv"
START, END = "2021-04-05", "2022-04-05"
PARAMS = {"regime_trend": "not_trending_down", "mtf_timeframes": "4h,1d"}


def _timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def once() -> dict[str, float | dict]:
    t_load, loaded = _timed(lambda: load_alt_directory(DATA))
    bars = window(read_ohlcv_csv(OHLCV), None, END)
    decisions = bars["ts"] >= pd.Timestamp(START)
    t_asm, built = _timed(lambda: assemble(bars, loaded.items, "BTC", decisions))
    frame = pd.concat([bars, built.columns], axis=1)
    strategy = get_strategy("composite", PARAMS)
    t_bt, result = _timed(lambda: run_backtest(frame, strategy, trade_from=START))
    argv = ["backtest", "--ohlcv", str(OHLCV), "--strategy", "composite", "--start", START,
            "--end", END, "--alt-data", str(DATA), "--json"]  # fmt: skip
    for name, value in PARAMS.items():
        argv += ["--param", f"{name}={value}"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        t_cli, code = _timed(lambda: main(argv))
    assert code == 0
    report = json.loads(out.getvalue())
    return {
        "load": t_load, "assemble": t_asm, "backtest": t_bt, "cli": t_cli,
        "bars": float((decisions).sum()), "trades": float(len(result.trades)),
        "alt_data": report["alt_data"], "direct_counts": counts(built.used),
    }  # fmt: skip


def run(repeat: int) -> None:
    runs = [once() for _ in range(repeat)]
    print(f"bars in the window: {int(runs[0]['bars'])}, trades: {int(runs[0]['trades'])}")
    print(f"alt_data (JSON): {runs[0]['alt_data']}")
    print("| phase | median s | best s |")
    print("|---|---:|---:|")
    for phase in ("load", "assemble", "backtest", "cli"):
        times = [float(r[phase]) for r in runs]  # type: ignore[arg-type]
        print(f"| {phase} | {statistics.median(times):.2f} | {min(times):.2f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    run(parser.parse_args().repeat)
