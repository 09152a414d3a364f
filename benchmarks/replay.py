"""Benchmark: ``trading replay`` of a year of 1h bars (8,760) for one strategy instance.

Target (issue 11): <= 120 s on an idle 2-core machine. The run is the real live path
(``trading_pipelines.replay.run``): the new-bar sensor's cursor, the strategy asset's
decision on the live lookback, the SQLite ledger in a scratch home, the executor's engine and
the paper broker under the backtest fill convention. It prints the wall time, the
breakdown by part of the loop (``ReplayRun.timings``; the rest is start-up, the numba load
and the result), the process's CPU time (the wall time to expect on an idle machine), the
backtest of the same inputs for scale, and whether the two trade hashes agree.
The machines are shared: run it a few times and expect noise; the load average is printed.

    .venv/bin/python benchmarks/replay.py [--strategy macd] [--bars 8760] [--fill F] [--stops]
        [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / ".." / "shared" / "data" / "market"
SERIES = DATA / "binance_BTCUSDT_1h.csv"
TARGET_S = 120.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", default="macd")
    parser.add_argument("--bars", type=int, default=8760, help="bars in the window (a year)")
    parser.add_argument("--fill", default="close", choices=("close", "next_open"))
    parser.add_argument(
        "--stops", action="store_true", help="stop-loss 2 %%, take-profit 4 %%, trailing 3 %%"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    began = time.perf_counter()
    from trading_core.backtest import BacktestConfig, read_ohlcv_csv, run_backtest
    from trading_core.strategies import get_strategy
    from trading_pipelines.replay.run import run_replay

    imported = time.perf_counter() - began
    bars = read_ohlcv_csv(SERIES)
    strategy = get_strategy(args.strategy)
    stops = {"stop_loss_pct": 0.02, "take_profit_pct": 0.04, "trailing_stop_pct": 0.03}
    config = BacktestConfig(fill=args.fill, **(stops if args.stops else {}))
    start = bars["ts"].iloc[len(bars) - args.bars]
    load = os.getloadavg()

    t0 = time.perf_counter()
    backtest = run_backtest(bars, strategy, config, trade_from=start)
    backtest_s = time.perf_counter() - t0
    t0, cpu0 = time.perf_counter(), time.process_time()
    run = run_replay(bars, strategy, config, trade_from=start)
    replay_s, replay_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0

    parts = {name: round(seconds, 2) for name, seconds in sorted(run.timings.items())}
    parts["other (start-up, numba load, result)"] = round(replay_s - sum(run.timings.values()), 2)
    report = {
        "series": SERIES.name,
        "strategy": args.strategy,
        "fill": args.fill,
        "stops": stops if args.stops else None,
        "bars": args.bars,
        "window_start": str(start),
        "intents": run.intents,
        "closed_trades": len(run.result.trades),
        "replay_s": round(replay_s, 2),
        "per_bar_ms": round(1000.0 * replay_s / args.bars, 2),
        # CPU time of this process: what the wall time is on an idle machine
        "replay_cpu_s": round(replay_cpu_s, 2),
        "target_s": TARGET_S,
        "within_target": replay_s <= TARGET_S,
        "breakdown_s": parts,
        "backtest_s": round(backtest_s, 2),
        "imports_s": round(imported, 2),
        "same_trade_hash_as_backtest": run.result.trade_hash == backtest.trade_hash,
        "load_average_at_start": [round(x, 2) for x in load],
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"replay {args.strategy} on {SERIES.name}, {args.bars} bars from {start}")
        print(f"  wall {replay_s:.1f} s ({report['per_bar_ms']} ms/bar), target {TARGET_S:g} s")
        print(f"  cpu  {replay_cpu_s:.1f} s (the wall time on an idle machine)")
        for name, seconds in parts.items():
            print(f"    {name:<40} {seconds:8.2f} s")
        print(f"  backtest of the same inputs {backtest_s:.2f} s")
        print(f"  intents {run.intents}, closed trades {len(run.result.trades)}")
        print(f"  same trade_hash as the backtest: {report['same_trade_hash_as_backtest']}")
        print(f"  load average at start {report['load_average_at_start']} on {os.cpu_count()} cpus")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
