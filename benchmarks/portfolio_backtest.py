"""Portfolio backtest benchmark: five instances over a year of 1h candles, protocol on.

The real path of ``trading backtest --config FILE --data-dir DIR --json``: the candle files
of ``../shared/data/market`` (``binance_*_1h.csv``), every instance's signals, the event loop
with the protocol deciding every entry, the JSON report. Instances: MACD on BTC, ETH and ADA,
grid on XRP, swing on BTC (all 1h, 2022: 8,760 bars each, 43,800 bar events).

Usage::

    .venv/bin/python benchmarks/portfolio_backtest.py [--repeats 3] [--start 2022-01-01]
        [--end 2022-12-31T23:00] [--json OUT.json]

Targets (issue 12): <= 5 s wall, peak memory <= 1 GB (RSS of the whole process, imports
included). The machines are shared: run on an idle one, more than once.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MARKET = (ROOT / ".." / "shared" / "data" / "market").resolve()


def _instance(iid: str, strategy: str, symbol: str, profile: str, params: dict) -> dict:
    return {
        "id": iid,
        "strategy": strategy,
        "params": params,
        "exchange": "binance",
        "symbols": [symbol],
        "timeframe": "1h",
        "risk_profile": profile,
        "allocation": 0.2,
    }


CONFIG: dict[str, Any] = {
    "executor": {"starting_cash": 500.0},
    "fees": {"taker": 0.001, "maker": 0.001, "slippage_bps": 5},
    "strategies": [
        _instance("btc-macd", "macd", "BTC/USDT", "low", {"fast": 12, "slow": 26, "signal": 9}),
        _instance("eth-macd", "macd", "ETH/USDT", "high", {"fast": 8, "slow": 21, "signal": 5}),
        _instance("ada-macd", "macd", "ADA/USDT", "medium", {"fast": 12, "slow": 26, "signal": 9}),
        _instance("xrp-grid", "grid", "XRP/USDT", "medium", {"lookback": 100, "levels": 10}),
        _instance("btc-swing", "swing", "BTC/USDT", "medium", {}),
    ],
    "protocol": {
        "allocation": {"tags": {"alts": {"assets": ["ADA", "XRP"], "max_fraction": 0.35}}}
    },
}


def run_once(start: str, end: str) -> dict[str, float | int]:
    from trading_core.config import TradingConfig
    from trading_core.config_portfolio import instances_of
    from trading_core.portfolio_backtest import build_report, run_portfolio
    from trading_core.portfolio_backtest.data import load_instances

    t0 = time.perf_counter()
    config = TradingConfig.model_validate(CONFIG)
    instances = instances_of(config)
    bars, used = load_instances(MARKET, instances)
    t1 = time.perf_counter()
    run = run_portfolio(
        instances, bars, config.protocol, config.fees, config.executor.starting_cash, start, end
    )
    t2 = time.perf_counter()
    text = json.dumps(build_report(run, used), sort_keys=True)
    t3 = time.perf_counter()
    return {
        "load_s": t1 - t0,
        "run_s": t2 - t1,
        "report_s": t3 - t2,
        "total_s": t3 - t0,
        "instants": int(run.times.size),
        "trades": len(run.trades),
        "events": len(run.events),
        "json_bytes": len(text),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--start", default="2022-01-01")
    parser.add_argument("--end", default="2022-12-31T23:00")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    import trading_core.portfolio_backtest  # noqa: F401  (imports counted apart)

    imports = time.perf_counter() - started
    runs = [run_once(args.start, args.end) for _ in range(args.repeats)]
    best = min(runs, key=lambda r: r["total_s"])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"portfolio backtest, 5 instances x 1h, {args.start} .. {args.end}")
    print(f"  imports {imports:.2f} s (once per process)")
    print("  run   load_s  run_s  report_s  total_s")
    for i, r in enumerate(runs, 1):
        times = f"{r['load_s']:6.2f} {r['run_s']:6.2f} {r['report_s']:8.2f} {r['total_s']:8.2f}"
        print(f"  {i:>3}   {times}")
    print(
        f"  best total {best['total_s']:.2f} s (+ imports {imports:.2f} s; target <= 5 s), "
        f"peak RSS {peak_mb:.0f} MB (target <= 1024), {best['instants']} instants, "
        f"{best['trades']} trades, {best['events']} events"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        summary = {"imports_s": imports, "runs": runs, "peak_rss_mb": peak_mb}
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
