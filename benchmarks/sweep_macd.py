"""Benchmark: 2,400 MACD-crossover scenarios with the compiled sweep kernel.

Reference (STACK.md, same 2-core machines, same rules: long only, all-in/all-out, fill at the
signal close, 0.1 % fee per side): on XRPUSDT 1h (67,200 candles) vectorbt 38.7 s / 3.9 GB
peak, a pandas loop 7.65 s; on XRPUSDT 1d (2,804 candles) vectorbt 1.69 s, pandas 2.15 s.
Target: <= 1 s and < 1 GB peak on the 1h series.

The grid is ``macd_grid()``: fast 2, 4, ..., 40; 12 slow spans spread evenly over
fast+1..80; signal 2, 4, ..., 20 (20 x 12 x 10 = 2,400). Timings exclude CSV parsing and the
numba JIT, which is reported separately (``--cold`` compiles from scratch in a temporary
cache directory instead of loading the on-disk cache). Peak RSS is the whole process's
(``resource.getrusage``). The machines are shared: run it a few times and expect noise.

    .venv/bin/python benchmarks/sweep_macd.py [--repeats 5] [--cold] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "market"
SERIES = {"1h": "binance_XRPUSDT_1h.csv", "1d": "binance_XRPUSDT_1d.csv"}
REFERENCE = {
    "1h": {"vectorbt_s": 38.7, "vectorbt_peak_gb": 3.9, "pandas_loop_s": 7.65},
    "1d": {"vectorbt_s": 1.69, "pandas_loop_s": 2.15},
}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DATA.resolve())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cold", action="store_true", help="compile without the numba cache")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.cold:
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="numba-cold-")

    started = time.perf_counter()
    import numba

    from trading_core.backtest import BacktestConfig, read_ohlcv_csv, run_backtest
    from trading_core.backtest.sweep import macd_grid, sweep_macd, warm_up
    from trading_core.strategies import get_strategy

    import_s = time.perf_counter() - started
    started = time.perf_counter()
    warm_up()
    jit_s = time.perf_counter() - started

    grid = macd_grid()
    report: dict[str, object] = {
        "scenarios": len(grid),
        "threads": numba.get_num_threads(),
        "cpus": os.cpu_count(),
        "import_s": round(import_s, 3),
        "jit_s": round(jit_s, 3),
        "jit": "compiled (cold cache)" if args.cold else "cache load or compile",
    }
    for label, name in SERIES.items():
        bars = read_ohlcv_csv(args.data_dir / name)
        timings = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            results = sweep_macd(bars, grid, fee=0.001)
            timings.append(time.perf_counter() - started)
        # Spot check against the plain backtester (the tests check many more scenarios).
        worst = 0.0
        for index in (0, len(grid) // 2, len(grid) - 1):
            params = grid.iloc[index].to_dict()
            plain = run_backtest(bars, get_strategy("macd", params), BacktestConfig()).metrics
            fast = results.iloc[index]
            worst = max(
                worst,
                abs(fast["total_return"] - plain["total_return"])
                / max(abs(plain["total_return"]), 1e-12),
            )
        best = min(timings)
        report[label] = {
            "candles": len(bars),
            "best_s": round(best, 4),
            "median_s": round(statistics.median(timings), 4),
            "scenarios_per_s": round(len(grid) / best),
            "bar_steps_per_s": f"{len(grid) * len(bars) / best:.3g}",
            "best_total_return": round(float(results["total_return"].max()), 6),
            "spot_check_max_rel_diff": worst,
            "reference": REFERENCE[label],
        }
    report["peak_rss_mb"] = round(_peak_rss_mb(), 1)

    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"MACD sweep benchmark: {report['scenarios']} scenarios, {report['threads']} threads")
    print(f"  imports {report['import_s']} s; numba JIT ({report['jit']}) {report['jit_s']} s")
    for label in SERIES:
        item = report[label]
        assert isinstance(item, dict)
        ref = item["reference"]
        print(
            f"  XRPUSDT {label} ({item['candles']:,} candles): best {item['best_s']} s, "
            f"median {item['median_s']} s, {item['scenarios_per_s']:,} scenarios/s, "
            f"{item['bar_steps_per_s']} bar-steps/s; vectorbt {ref['vectorbt_s']} s, "
            f"pandas loop {ref['pandas_loop_s']} s; spot check vs backtester "
            f"{item['spot_check_max_rel_diff']:.1e}"
        )
    print(f"  peak RSS {report['peak_rss_mb']} MB (vectorbt 3.9 GB on the 1h series)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
