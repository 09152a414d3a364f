"""The live loop end to end: a played sim market of 1m bars through `make run`'s processes.

`python -m trading_pipelines.launcher run` in its own TRADING_HOME under /tmp and its own
process group: bootstrap seeds ``--history-days`` days of 1m (and 1h) history, then the
daemon, ``new_bar_sensor``, the queued run coordinator, the run launcher, dbt and the paper
executor run as under `make run`, on a market played forward at ``--pace`` wall seconds per
1m bar (``trading_core.market.clock``). After ``--bars`` bars it stops the group (SIGINT, as
Ctrl-C) and reads the Dagster instance and the ledger:

- per bar, bar close (wall instant) -> the end of the strategy step (``strategy/order_intents``)
  of the evaluation run that decided it (``p50_s``, ``p95_s``: its intent, if any, is in the
  ledger by then), and -> the end of that run (``run_end_*``: after ``signals/history``, the
  history folded behind the live edge); for the bars that produced an
  intent, -> the intent row and -> its fill; how long before the close its run was armed
  (created); the most evaluation runs queued at once; evaluation runs per bar;
- the fixed cost per run, from each run's event log: plan (run created -> enqueued: the
  planned-materialization and planned-check events), queued (enqueued -> STARTING: the
  coordinator's dequeue interval), launch (STARTING -> run process started: process start
  and code-location load), steps, the dbt step alone, and each step without its wait for
  the bar close (``step_work_s``).

The last line of stdout is one JSON object (``--json`` prints only it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from live_loop_seed import launch_backfill, seed_history

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
BASES = "BTC ETH SOL ADA XRP DOGE DOT LTC LINK AVAX ATOM XLM TRX ETC BCH UNI FIL NEAR APT ARB"
BASES += " OP ALGO VET ICP HBAR AAVE EOS XTZ SAND MANA"
EVALUATION = "evaluate_strategy"
WAITED = re.compile(r"waited ([0-9.]+) s for the bar close")


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 3)


def market_env(
    home: Path, symbols: int, days: int, pace: float, partition_days: int = 0
) -> tuple[dict, datetime]:
    """The launcher's environment: its own home, ``symbols`` sim symbols, the market played
    from 6 h ago (so it never catches up with the wall clock) at ``pace``; the daily
    partitions start ``max(days, partition_days)`` days back (a backfill longer than the
    seeded history needs its partitions)."""
    as_of = (datetime.now(UTC) - timedelta(hours=6)).replace(second=0, microsecond=0, tzinfo=None)
    env = {
        **os.environ,
        "TRADING_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "TRADING_SYMBOLS": ",".join(f"{b}/USDT" for b in BASES.split()[:symbols]),
        "TRADING_MARKET_AS_OF": as_of.isoformat(),
        "TRADING_REPLAY_PACE": str(pace),
        "TRADING_START_DATE": (
            as_of.date() - timedelta(days=max(days, partition_days) + 1)
        ).isoformat(),
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    return env, as_of


def launch(home: Path, env: dict, bootstrap_days: int, port: int) -> subprocess.Popen:
    """Start `make run`'s launcher (bootstrap ingests ``bootstrap_days`` through Dagster)."""
    log = (home / "launcher.log").open("w")
    return subprocess.Popen(
        [
            str(PYTHON),
            "-m",
            "trading_pipelines.launcher",
            "run",
            "--days",
            str(bootstrap_days),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_served(home: Path, proc: subprocess.Popen, timeout: float) -> float:
    """Wall time at which the market started moving (the launcher's "played forward ... from
    WALL UTC" line: the clock's anchor, so bar closes map to wall instants exactly)."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"launcher exited {proc.returncode}: see {home}/launcher.log")
        for line in (home / "launcher.log").read_text().splitlines():
            if "played forward" in line and line.endswith(" UTC"):
                anchor = datetime.fromisoformat(line.rsplit(" from ", 1)[1].removesuffix(" UTC"))
                return anchor.replace(tzinfo=UTC).timestamp()
        time.sleep(1)
    raise SystemExit(f"bootstrap did not finish in {timeout} s: see {home}/launcher.log")


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


INTENTS_STEP = "strategy__order_intents"


def run_phases(home: Path) -> tuple[list[dict], int]:
    """Per run: its job and the wall instants of its lifecycle events; max queued evals."""
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    import dagster as dg
    from dagster._core.events import DagsterEventType as T

    # the queued run coordinator logs no DEQUEUED event: STARTING is the dequeue
    wanted = {T.PIPELINE_ENQUEUED: "enqueued", T.PIPELINE_STARTING: "dequeued",
              T.PIPELINE_START: "started", T.PIPELINE_SUCCESS: "ended",
              T.PIPELINE_FAILURE: "ended"}  # fmt: skip
    runs = []
    with dg.DagsterInstance.get() as instance:
        for record in instance.get_run_records():
            run = record.dagster_run
            phases: dict = {
                "job": run.job_name,
                "status": run.status.value,
                "created": record.create_timestamp.timestamp(),
                "bar_close": run.tags.get("trading/bar_close"),
                "backfill": run.tags.get("dagster/backfill"),
            }
            steps = []
            waited: dict[str, float] = {}  # the ingest steps' wait for the bar close
            for entry in instance.all_logs(run.run_id):
                event = entry.dagster_event
                if event is None:
                    found = WAITED.match(entry.user_message or "")
                    if found and entry.step_key:
                        waited[entry.step_key] = float(found.group(1))
                    continue
                if event.event_type in wanted:
                    phases.setdefault(wanted[event.event_type], entry.timestamp)
                elif event.event_type in (T.STEP_START, T.STEP_SUCCESS, T.STEP_FAILURE):
                    steps.append((event.step_key or "", event.event_type, entry.timestamp))
            decided = [s[2] for s in steps if s[0] == INTENTS_STEP and s[1] != T.STEP_START]
            if decided:  # the strategy's step ended: the bar's intent, if any, is written
                phases["decided"] = decided[0]
            spans = []
            for key in {s[0] for s in steps}:
                times = [s[2] for s in steps if s[0] == key]
                spans.append((min(times), max(times)))
                phases.setdefault("steps", {})[key] = max(times) - min(times)
                phases.setdefault("work", {})[key] = max(times) - min(times) - waited.get(key, 0)
            # between one step's end and the next one's start: mostly the wait for the pool
            spans.sort()
            phases["handoff"] = sum(max(0.0, b[0] - a[1]) for a, b in itertools.pairwise(spans))
            runs.append(phases)
    events = []
    for r in runs:
        if r["job"] == EVALUATION and "enqueued" in r:
            events += [(r["enqueued"], 1), (r.get("dequeued", r.get("ended", 1e18)), -1)]
    queued = peak = 0
    for _, delta in sorted(events):
        queued += delta
        peak = max(peak, queued)
    return runs, peak


def fixed_cost(runs: list[dict], job: str) -> dict:
    """Median seconds of each phase over the finished runs of one job."""
    done = [r for r in runs if r["job"] == job and {"enqueued", "started", "ended"} <= r.keys()]

    def med(values: list[float]) -> float | None:
        return round(statistics.median(values), 2) if values else None

    dbt = [v for r in done for k, v in r.get("steps", {}).items() if "dbt" in k]
    return {
        "runs": len(done),
        "plan_s": med([r["enqueued"] - r["created"] for r in done]),
        "queued_s": med([r.get("dequeued", r["enqueued"]) - r["enqueued"] for r in done]),
        "launch_s": med([r["started"] - r.get("dequeued", r["enqueued"]) for r in done]),
        "steps_s": med([sum(r.get("steps", {}).values()) for r in done]),
        "dbt_step_s": med(dbt),
        "run_s": med([r["ended"] - r["started"] for r in done]),
        "handoff_s": med([r.get("handoff", 0.0) for r in done]),  # step end -> next start
        "handoff_max_s": max([round(r.get("handoff", 0.0), 2) for r in done], default=None),
        # per step, its time without the wait for the bar close
        "step_work_s": {
            key: med([r["work"][key] for r in done if key in r.get("work", {})])
            for key in sorted({k for r in done for k in r.get("work", {})})
        },
    }


def ledger_latencies(home: Path, bar_wall: dict[datetime, float]) -> tuple[list, list, int]:
    """Bar close -> intent created, -> fill recorded (wall seconds), from the ledger."""
    path = home / "ledger.sqlite"
    if not path.exists():
        return [], [], 0
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "select i.bar_ts, i.created_at, min(f.recorded_at) from intents i"
            " left join fills f on f.intent_id = i.intent_id group by i.intent_id"
        ).fetchall()
    to_intent, to_fill = [], []
    for bar_ts, created, filled in rows:
        close = bar_wall.get(datetime.fromisoformat(str(bar_ts)) + timedelta(minutes=1))
        if close is None:
            continue
        to_intent.append(
            datetime.fromisoformat(str(created)).replace(tzinfo=UTC).timestamp() - close
        )
        if filled:
            to_fill.append(
                datetime.fromisoformat(str(filled)).replace(tzinfo=UTC).timestamp() - close
            )
    return to_intent, to_fill, len(rows)


def bad_argument(args: argparse.Namespace) -> str | None:
    """What is wrong with the flags, naming the flag and its allowed values; None if nothing."""
    ranges = {
        "--symbols": (args.symbols, 1, len(BASES.split())),
        "--history-days": (args.history_days, 1, 730),
        "--bars": (args.bars, 1, 1000),
        "--backfill-days": (args.backfill_days, 0, 3650),
        "--port": (args.port, 1024, 65535),
    }
    for flag, (value, low, high) in ranges.items():
        if not low <= value <= high:
            return f"{flag} {value}: allowed {low}..{high}"
    if not (math.isfinite(args.pace) and 1.0 <= args.pace <= 3600.0):
        return f"--pace {args.pace}: allowed 1..3600 wall seconds per bar"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=3)
    parser.add_argument("--history-days", type=int, default=1)
    parser.add_argument("--bars", type=int, default=5, help="new 1m bars measured per series")
    parser.add_argument(
        "--pace",
        type=float,
        default=60.0,
        help="wall seconds per 1m bar (evaluations are armed before each close)",
    )
    parser.add_argument(
        "--seed",
        choices=["direct", "dagster"],
        default="direct",
        help="history: sim candles written straight into the warehouse (the last day through "
        "Dagster) or every day through Dagster runs (live_loop_seed.py)",
    )
    parser.add_argument(
        "--backfill-days",
        type=int,
        default=0,
        help="while measuring, a backfill of raw/ohlcv over this many days x every symbol",
    )
    parser.add_argument("--port", type=int, default=3917)
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--keep", action="store_true", help="keep the TRADING_HOME")
    args = parser.parse_args(argv)
    problem = bad_argument(args)
    if problem:
        parser.error(problem)
    home = Path(tempfile.mkdtemp(prefix="live_loop_", dir="/tmp"))
    began = time.monotonic()
    env, as_of = market_env(
        home, args.symbols, args.history_days, args.pace, args.backfill_days or 0
    )
    seed = None
    bootstrap_days = args.history_days
    if args.seed == "direct" and args.history_days > 1:
        day = datetime.combine(as_of.date(), datetime.min.time())
        seed = seed_history(home, env, day - timedelta(days=args.history_days - 1), day)
        bootstrap_days = 1  # the day in progress, through Dagster as usual
    proc = launch(home, env, bootstrap_days, args.port)
    backfill = None
    try:
        wall0 = wait_served(home, proc, timeout=3600)
        seeded = time.monotonic() - began
        if args.backfill_days:
            symbols = env["TRADING_SYMBOLS"].split(",")
            last = as_of.date() - timedelta(days=1)
            first = last - timedelta(days=args.backfill_days - 1)
            backfill = {
                "id": launch_backfill(args.port, first, last, symbols),
                "days": args.backfill_days,
                "partitions": args.backfill_days * len(symbols),
            }
        time.sleep(args.pace * (args.bars + 0.5) + 60)  # the last bar, and time to settle
    finally:
        stop(proc)
    # bar close instants (market) -> wall instants, on the played clock
    bar_wall = {
        as_of + timedelta(minutes=k): wall0 + k * args.pace for k in range(1, args.bars + 1)
    }
    runs, peak = run_phases(home)
    to_intent, to_fill, intents = ledger_latencies(home, bar_wall)
    evals = [r for r in runs if r["job"] == EVALUATION and "ended" in r]
    # a bar is decided by the first evaluation armed for its close or a later one
    to_eval, to_run_end, armed_before = [], [], []
    for close, wall in bar_wall.items():
        covering = [r for r in evals if r["bar_close"] and r["bar_close"] >= close.isoformat()]
        if covering:
            first = min(covering, key=lambda r: r["bar_close"])
            to_eval.append(first.get("decided", first["ended"]) - wall)
            to_run_end.append(first["ended"] - wall)
            armed_before.append(wall - first["created"])
    result = {
        "symbols": args.symbols, "history_days": args.history_days, "pace_s": args.pace,
        "bars": args.bars, "intents": intents,
        "p50_s": _pct(to_eval, 0.5), "p95_s": _pct(to_eval, 0.95),
        "run_end_p50_s": _pct(to_run_end, 0.5), "run_end_p95_s": _pct(to_run_end, 0.95),
        "intent_p50_s": _pct(to_intent, 0.5), "intent_p95_s": _pct(to_intent, 0.95),
        "fill_p50_s": _pct(to_fill, 0.5), "fill_p95_s": _pct(to_fill, 0.95),
        # how long before its bar's close the evaluation run was created (armed)
        "armed_before_close_p50_s": _pct(armed_before, 0.5),
        "max_queued_runs": peak, "evaluation_runs": len(evals),
        "runs_per_bar": round(len(evals) / args.bars, 2),
        "failed_runs": sum(r["status"] == "FAILURE" for r in runs),
        "seed_s": round(seeded, 1),
        "seed": args.seed,
        "seeded_rows": seed["rows"] if seed else None,
        "backfill": backfill,
        "backfill_runs": sum(1 for r in runs if r.get("backfill")),
        "fixed_cost": {
            job: fixed_cost([r for r in runs if not r.get("backfill")], job)
            for job in sorted({r["job"] for r in runs if "enqueued" in r and not r.get("backfill")})
        },
        "load_1m": round(os.getloadavg()[0], 2),
    }  # fmt: skip
    if not args.json:
        print(json.dumps(result, indent=2))
        print(f"TRADING_HOME {home}" + ("" if args.keep else " (removed)"))
    if not args.keep:
        subprocess.run(["rm", "-rf", str(home)], check=False)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
