"""Benchmark: sweeps under every rule through the one compiled kernel, and `trading sweep`.

Series: ``binance_XRPUSDT_1h.csv`` (``--series``; 67,200 candles, the issue's "70,000-candle"
size), the longest 1h file in ../shared/data/market without a held spike: ADAUSDT 1h (67,612)
has one (2025-03-02), over which a MACD sweep decides as live through the signal arrays
(``decision_signals``), not the compiled crossings, so it would time another path. Cases, each 2,400
scenarios, long only, all-in/all-out, fill at the signal close, 0.1 % fee per side:

- ``macd_grid()`` (fast 2..40 step 2 x 12 slow spans x signal 2..20 step 2): plain, with a
  3 % stop-loss + 6 % take-profit, with a 4 % trailing stop;
- ``swing_grid()`` (RSI 7/10/14/21 x Bollinger 10/15/20/30 x width 1.5/2/2.5 x oversold
  20..40 x overbought 55..80): the same three rule sets.

Per case: the in-process sweep (``sweep_strategy`` after ``warm_up()``: indicators, signal
arrays and kernel; serial and parallel drivers), and the whole ``trading sweep`` command as a
subprocess (CSV in, CSV out) with its peak RSS; the fixed overhead is the same command with
a single scenario (``--overhead-repeats`` runs, also with the compiled module turned off,
``TRADING_AOT=0``: the numba JIT). Every number is the median of ``--repeats`` runs: the
machines are shared. The kernels are the ahead-of-time compiled module when ``make prepare``
built it (``trading_core.aot``; the report says which), else the numba JIT.
``--vectorbt PYTHON`` times vectorbt's ``Portfolio.from_signals`` on the same signals with
that interpreter (a separate venv; vectorbt is not a project dependency), scaled to 2,400
scenarios, and the speed-ups of the in-process sweep and of the whole command over it.

    .venv/bin/python benchmarks/sweep_rules.py [--repeats 3] [--overhead-repeats 5] [--json] \
        [--vectorbt /tmp/vbt-venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKET = (ROOT / ".." / "shared" / "data" / "market").resolve()
SERIES = MARKET / "binance_XRPUSDT_1h.csv"
RULES: dict[str, list[str]] = {
    "plain": [],
    "sl3_tp6": ["--stop-loss", "0.03", "--take-profit", "0.06"],
    "trail4": ["--trailing-stop", "0.04"],
}
CONFIG_OF_RULES: dict[str, dict[str, float]] = {
    "plain": {},
    "sl3_tp6": {"stop_loss_pct": 0.03, "take_profit_pct": 0.06},
    "trail4": {"trailing_stop_pct": 0.04},
}


def swing_grid() -> object:
    import itertools

    import pandas as pd

    rows = itertools.product(
        (7, 10, 14, 21),
        (10, 15, 20, 30),
        (1.5, 2.0, 2.5),
        (20.0, 25.0, 30.0, 35.0, 40.0),
        tuple(55.0 + 2.5 * k for k in range(10)),
    )
    columns = ["rsi_period", "bb_period", "bb_std", "oversold", "overbought"]
    return pd.DataFrame(list(rows), columns=columns)


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def _command(
    strategy: str, params: Path, rules: list[str], out: Path, pbo_blocks: int = 0
) -> list[str]:
    """The issue's ``trading sweep`` contract; ``pbo_blocks`` 0 leaves out the overfitting
    statistics (PBO, deflated Sharpe), which the command computes by default (16)."""
    return [
        "/usr/bin/time", "-f", "%M %U %S", str(ROOT / ".venv" / "bin" / "trading"), "sweep",
        "--ohlcv", str(SERIES), "--strategy", strategy, "--params-file", str(params),
        "--fee", "0.001", "--fill", "close", *rules, "--pbo-blocks", str(pbo_blocks),
        "--out", str(out),
    ]  # fmt: skip


def _run_command(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB) of one command."""
    started = time.perf_counter()
    done = subprocess.run(
        args,
        capture_output=True,
        text=True,
        check=True,
        env=None if env is None else {**os.environ, **env},
    )
    wall = time.perf_counter() - started
    peak_kb, user, system = (float(v) for v in done.stderr.strip().splitlines()[-1].split())
    return wall, user + system, peak_kb / 1024.0


def _parallel_load_s() -> float:
    """First call of the cached parallel driver in a fresh process, minus the serial one."""
    code = (
        "import time, numpy as np, pandas as pd\n"
        "from trading_core.backtest.sweep import sweep_macd\n"
        "ts = pd.date_range('2024-01-01', periods=64, freq='D')\n"
        "c = 100 + np.sin(np.arange(64) / 3.0)\n"
        "b = pd.DataFrame({'ts': ts, 'open': c, 'high': c, 'low': c, 'close': c})\n"
        "p = pd.DataFrame({'fast': [3], 'slow': [7], 'signal': [3]})\n"
        "t = time.perf_counter(); sweep_macd(b, p, parallel=False); s = time.perf_counter() - t\n"
        "t = time.perf_counter(); sweep_macd(b, p, parallel=True); q = time.perf_counter() - t\n"
        "print(q)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return float(done.stdout.strip())


def _export_signals(strategy: str, scenarios: int, path: Path) -> None:
    import numpy as np

    from trading_core.backtest import read_ohlcv_csv
    from trading_core.backtest.sweep import macd_grid
    from trading_core.strategies import get_strategy

    bars = read_ohlcv_csv(SERIES)
    grid = macd_grid() if strategy == "macd" else swing_grid()
    rows = grid.iloc[:: max(1, len(grid) // scenarios)].iloc[:scenarios]  # type: ignore[attr-defined]
    frames = [get_strategy(strategy, dict(r)).signals(bars) for _, r in rows.iterrows()]
    np.savez(
        path,
        close=bars["close"].to_numpy(),
        open=bars["open"].to_numpy(),
        high=bars["high"].to_numpy(),
        low=bars["low"].to_numpy(),
        entries=np.stack([f["entry"].to_numpy() for f in frames]),
        exits=np.stack([f["exit"].to_numpy() for f in frames]),
        sl=np.array([]),
        tp=np.array([]),
        trail=np.array([]),
    )


def _export_rules(path: Path, rules: str) -> None:
    import numpy as np

    data = dict(np.load(path))
    cfg = CONFIG_OF_RULES[rules]
    data["sl"] = np.array([cfg["stop_loss_pct"]]) if "stop_loss_pct" in cfg else np.array([])
    data["tp"] = np.array([cfg["take_profit_pct"]]) if "take_profit_pct" in cfg else np.array([])
    trail = cfg.get("trailing_stop_pct")
    data["trail"] = np.array([trail]) if trail else np.array([])
    np.savez(path, **data)


def main(argv: list[str] | None = None) -> int:
    global SERIES  # every case and command reads the one series (--series)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--series", type=Path, default=SERIES, help="an OHLCV CSV")
    parser.add_argument("--vectorbt", default=None, metavar="PYTHON")
    parser.add_argument("--vectorbt-scenarios", type=int, default=240)
    parser.add_argument("--overhead-repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    SERIES = args.series.resolve()

    import pandas as pd

    from trading_core import aot
    from trading_core.backtest import BacktestConfig, read_ohlcv_csv
    from trading_core.backtest.sweep import macd_grid, sweep_strategy, warm_up

    warm_up(parallel=True)
    bars = read_ohlcv_csv(SERIES)
    grids = {"macd": macd_grid(), "swing": swing_grid()}
    report: dict[str, object] = {
        "series": SERIES.name,
        "candles": len(bars),
        "kernels": f"compiled ahead of time: {aot.status()}"
        if aot.load()
        else f"numba JIT (compiled module {aot.status()})",
        "load_average_at_start": round(os.getloadavg()[0], 2),
        "parallel_driver_load_s": _median([_parallel_load_s() for _ in range(args.repeats)]),
    }
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for strategy, grid in grids.items():
            params = Path(tmp) / f"{strategy}.csv"
            grid.to_csv(params, index=False)  # type: ignore[attr-defined]
            one = Path(tmp) / f"{strategy}_one.csv"
            grid.iloc[:1].to_csv(one, index=False)  # type: ignore[attr-defined]
            for rules, flags in RULES.items():
                config = BacktestConfig(**CONFIG_OF_RULES[rules])  # type: ignore[arg-type]
                timings: dict[str, list[float]] = {"serial": [], "parallel": [], "cpu": []}
                for _ in range(args.repeats):
                    for mode in ("serial", "parallel"):
                        started, cpu = time.perf_counter(), time.process_time()
                        sweep_strategy(bars, strategy, grid, config, parallel=mode == "parallel")  # type: ignore[arg-type]
                        timings[mode].append(time.perf_counter() - started)
                        if mode == "serial":
                            timings["cpu"].append(time.process_time() - cpu)
                out = Path(tmp) / "out.csv"
                whole = [
                    _run_command(_command(strategy, params, flags, out))
                    for _ in range(args.repeats)
                ]
                case = {
                    "strategy": strategy,
                    "rules": rules,
                    "scenarios": len(grid),  # type: ignore[arg-type]
                    "sweep_serial_s": _median(timings["serial"]),
                    "sweep_serial_cpu_s": _median(timings["cpu"]),
                    "sweep_parallel_s": _median(timings["parallel"]),
                    "command_s": _median([w for w, _, _ in whole]),
                    "command_cpu_s": _median([c for _, c, _ in whole]),
                    "command_peak_mb": round(max(m for _, _, m in whole)),
                    "rows_written": len(pd.read_csv(out)),
                }
                if rules == "plain":
                    fixed = [
                        _run_command(_command(strategy, one, flags, out))
                        for _ in range(args.overhead_repeats)
                    ]
                    case["one_scenario_command_s"] = _median([w for w, _, _ in fixed])
                    case["one_scenario_command_cpu_s"] = _median([c for _, c, _ in fixed])
                    case["one_scenario_peak_mb"] = round(max(m for _, _, m in fixed))
                    jit = [
                        _run_command(_command(strategy, one, flags, out), {"TRADING_AOT": "0"})
                        for _ in range(args.overhead_repeats)
                    ]
                    case["one_scenario_command_jit_s"] = _median([w for w, _, _ in jit])
                    case["one_scenario_command_jit_cpu_s"] = _median([c for _, c, _ in jit])
                    judged = [
                        _run_command(_command(strategy, params, flags, out, pbo_blocks=16))
                        for _ in range(args.repeats)
                    ]
                    case["command_with_overfitting_s"] = _median([w for w, _, _ in judged])
                    case["command_with_overfitting_cpu_s"] = _median([c for _, c, _ in judged])
                if args.vectorbt:
                    with tempfile.TemporaryDirectory() as vtmp:
                        signals = Path(vtmp) / "s.npz"
                        _export_signals(strategy, args.vectorbt_scenarios, signals)
                        _export_rules(signals, rules)
                        seconds = _vectorbt_file(args.vectorbt, signals)
                    vbt = None if seconds is None else seconds * 2400 / args.vectorbt_scenarios
                    case["vectorbt_s_per_2400"] = None if vbt is None else round(vbt, 1)
                    if vbt is not None:
                        fastest = min(case["sweep_serial_s"], case["sweep_parallel_s"])  # type: ignore[type-var]
                        case["x_vectorbt_sweep"] = round(vbt / fastest, 1)  # type: ignore[operator]
                        case["x_vectorbt_command"] = round(vbt / case["command_s"], 1)  # type: ignore[operator]
                cases.append(case)
                print(json.dumps(case), file=sys.stderr)
    report["cases"] = cases
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{report['series']}: {report['candles']} candles; kernels: {report['kernels']}; "
            f"load average at start {report['load_average_at_start']}; parallel driver load "
            f"{report['parallel_driver_load_s']} s (medians of {args.repeats}; fixed overhead "
            f"of {args.overhead_repeats})"
        )
        with pd.option_context("display.width", 250, "display.max_columns", 40):
            print(pd.DataFrame(cases).set_index(["strategy", "rules"]).T.to_string())
    return 0


def _vectorbt_file(python: str, signals: Path) -> float | None:
    code = (
        "import sys, time, numpy as np, pandas as pd, vectorbt as vbt\n"
        "d = np.load(sys.argv[1]); close = pd.Series(d['close'])\n"
        "kw = {}\n"
        "if d['sl'].size: kw['sl_stop'] = float(d['sl'][0])\n"
        "if d['tp'].size: kw['tp_stop'] = float(d['tp'][0])\n"
        "if d['trail'].size: kw.update(sl_stop=float(d['trail'][0]), sl_trail=True)\n"
        "vbt.Portfolio.from_signals(close[:300], pd.DataFrame(d['entries'].T[:300, :2]),"
        " pd.DataFrame(d['exits'].T[:300, :2]), open=pd.Series(d['open'][:300]),"
        " high=pd.Series(d['high'][:300]), low=pd.Series(d['low'][:300]), fees=0.001,"
        " init_cash=10000, **kw).total_return()  # its JIT compiles outside the timing\n"
        "t = time.perf_counter()\n"
        "pf = vbt.Portfolio.from_signals(close, pd.DataFrame(d['entries'].T),"
        " pd.DataFrame(d['exits'].T), open=pd.Series(d['open']), high=pd.Series(d['high']),"
        " low=pd.Series(d['low']), fees=0.001, init_cash=10000, **kw)\n"
        "pf.total_return()\n"
        "print(time.perf_counter() - t)\n"
    )
    done = subprocess.run(
        [python, "-c", code, str(signals)], capture_output=True, text=True, timeout=3600
    )
    if done.returncode != 0:
        print(f"vectorbt failed: {done.stderr.strip()[-400:]}", file=sys.stderr)
        return None
    return float(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    raise SystemExit(main())
