"""Run every benchmark in turn (`make bench`); each prints its own results table.

Run on an otherwise idle machine: these are 2-core machines and every number is a wall time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "bulk_load.py",
    "backfill_year.py",
    "sweep_macd.py",
    "executor_latency.py",
    "pool_steps.py",
    # the live loop through `make run`'s processes, smallest case (about 3 minutes)
    "live_loop.py --symbols 3 --history-days 1 --bars 3",
]


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        script, *args = name.split()
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, str(HERE / script), *args], check=False).returncode:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
