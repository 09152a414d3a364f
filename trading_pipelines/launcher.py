"""What ``make run`` does: prepare, materialize the whole pipeline, then serve.

``python -m trading_pipelines.launcher prepare``  the dbt manifest and the Dagster home.
``python -m trading_pipelines.launcher bootstrap``  materialize every asset once (the days
before the market clock starts).
``python -m trading_pipelines.launcher run``  prepare + bootstrap, then the Dagster webserver
with its daemon (schedules, sensors, automation) and the paper executor, each in its own
process group, supervised (``trading_pipelines.supervisor``): a process that exits is restarted
with backoff and alerted, the others go on; only Ctrl-C (or SIGTERM) stops them, all of them.

Over history (replay data that ends in the past, or ``TRADING_MARKET_AS_OF``) the market starts
where ``start_market`` puts it, bootstrap ingests the days before, and from the moment the
services start the market is played forward at ``TRADING_REPLAY_PACE`` for all of them
(``trading_core.market.clock``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import warnings
from contextlib import redirect_stderr, redirect_stdout
from datetime import date, datetime, timedelta
from pathlib import Path

from executor.alerts import TELEGRAM_TOKEN_ENV, Alerter
from trading_core.config import ConfigError, get_config
from trading_core.market.clock import bootstrap_days, data_span, history_start, market_clock
from trading_core.timeframes import symbol_to_key, timeframe_seconds, utc_now
from trading_pipelines.instance import prepare_dagster_home
from trading_pipelines.settings import (
    DBT_PROJECT_DIR,
    PROJECT_ROOT,
    TELEMETRY_OFF,
    config,
    paths,
)
from trading_pipelines.supervisor import ChildSpec, supervise

BIN = Path(sys.executable).parent
BOOTSTRAP_DAYS = 2
# Run logs stay in the instance (the UI shows them); the terminal gets one line per step.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# The embedded social/news sample spans 30 days: sentiment has history from the start.
ALT_DATA_DAYS = 30
DEFAULT_PORT = 3000


def dbt_target_dir() -> Path:
    """This TRADING_HOME's dbt target directory: its parse state and every dbt invocation's
    folder (``DBT_TARGET_PATH`` of the services). dbt's partial-parse state holds the
    warehouse path (its profile hash) and the --vars: in a target shared with another root
    (the tests, a second TRADING_HOME) every evaluation run would parse the whole project
    again ("Unable to do partial parsing because profile has changed")."""
    return paths().home / "dbt_target"


def parse_dbt_project() -> None:
    """The manifest the code location loads, parsed with the --vars runs will pass, into this
    root's dbt target (``dbt_target_dir``); the manifest is then put where the code location
    reads it (``dbt_project/target/manifest.json``, replaced atomically)."""
    from trading_pipelines.dbt import dbt_vars

    target = dbt_target_dir()
    subprocess.run(
        [str(BIN / "dbt"), "parse", "--quiet", "--profiles-dir", str(DBT_PROJECT_DIR),
         "--vars", json.dumps(dbt_vars()), "--target-path", str(target)],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, **TELEMETRY_OFF, "TRADING_HOME": str(paths().home)},
        check=True,
    )  # fmt: skip
    shared = DBT_PROJECT_DIR / "target"
    shared.mkdir(parents=True, exist_ok=True)
    staged = shared / f".manifest.{os.getpid()}.json"
    shutil.copyfile(target / "manifest.json", staged)
    os.replace(staged, shared / "manifest.json")


def prepare() -> None:
    """Write the Dagster home's dagster.yaml and parse the dbt project (the manifest)."""
    home = prepare_dagster_home()
    parse_dbt_project()
    print(f"prepared: TRADING_HOME={paths().home}  DAGSTER_HOME={home}")


def _reached() -> datetime | None:
    """The market instant the last raw/ohlcv run of this TRADING_HOME saw (a played market
    resumes there), or None."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["raw", "ohlcv"]))
    materialization = event.asset_materialization if event else None
    entry = materialization.metadata.get("closed_candles_until") if materialization else None
    try:
        return datetime.fromisoformat(str(entry.value)) if entry else None
    except ValueError:
        return None


def start_market(days: int = BOOTSTRAP_DAYS) -> datetime | None:
    """Where the market starts (``trading_core.market.clock.history_start``): exported as
    TRADING_MARKET_AS_OF, so bootstrap ingests the days before it and every process `make
    run` starts sees the same market. None: live, on the wall clock."""
    cfg = config().market
    start = history_start(cfg, data_span(cfg), days, utc_now(), _reached())
    if start is not None and start != cfg.as_of:
        os.environ["TRADING_MARKET_AS_OF"] = start.isoformat()
        get_config.cache_clear()
    return start


def play_market() -> str:
    """Anchor the market at TRADING_MARKET_AS_OF to this wall instant: from now on it moves
    forward at the configured pace (TRADING_REPLAY_STARTED_AT for every process started
    later). Returns what to tell the user."""
    os.environ["TRADING_REPLAY_STARTED_AT"] = utc_now().isoformat()
    get_config.cache_clear()
    cfg = config().market
    clock = market_clock(cfg)
    assert clock.start is not None and clock.wall_start is not None
    line = (
        f"  market          {cfg.source}: history from {clock.start} played forward, "
        f"{cfg.replay_pace_seconds:g} s per {min(cfg.timeframes, key=timeframe_seconds)} bar "
        f"(TRADING_REPLAY_PACE) from {clock.wall_start.isoformat()} UTC"
    )
    if clock.end is not None:
        ends = clock.wall_start + timedelta(
            seconds=(clock.end - clock.start).total_seconds() / clock.speed
        )
        line += f"\n  data ends       {clock.end}, reached at {ends:%Y-%m-%d %H:%M} UTC"
    return line


def alt_data_start(today: date, start_date: date) -> date:
    """The first day of alternative data bootstrap ingests: the samples' last
    ``ALT_DATA_DAYS`` days, never before the daily partitions begin (TRADING_START_DATE)."""
    return max(today - timedelta(days=ALT_DATA_DAYS - 1), start_date)


def bootstrap(days: int = BOOTSTRAP_DAYS) -> None:
    """Materialize everything once, as Dagster runs recorded in the instance (they show in
    the UI): the market's partitions of the days before its clock starts (the last days, live),
    then every unpartitioned asset, then the report of the market's day."""
    import dagster as dg

    # backfill_policy is a beta parameter of @asset; its notice is not for the user
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    from trading_pipelines.definitions import build_definitions
    from trading_pipelines.partitions import market_range_tags

    cfg = config()
    defs = build_definitions(cfg, paths())
    today = utc_now().date()
    market_now = market_clock(cfg.market).now()
    window = bootstrap_days(market_now, cfg.market.start_date, days)
    if window is None:
        raise ConfigError(
            f"market.as_of (env TRADING_MARKET_AS_OF) {market_now} leaves no day to bootstrap "
            f"from market.start_date (env TRADING_START_DATE) {cfg.market.start_date}; "
            "allowed: an instant after the start date's first day"
        )
    first, last = window
    symbols = [symbol_to_key(s) for s in cfg.market.symbols]
    with dg.DagsterInstance.get() as instance:
        steps = [
            (
                "ingest_market",
                market_range_tags(first, last, symbols),
                None,
            ),
            (
                "ingest_alt_data",
                {
                    "dagster/asset_partition_range_start": alt_data_start(
                        today, cfg.market.start_date
                    ).isoformat(),
                    "dagster/asset_partition_range_end": today.isoformat(),
                },
                None,
            ),
            ("refresh_unpartitioned", {}, None),
            ("daily_report", {}, market_now.date().isoformat()),
        ]
        log = paths().home / "logs" / "bootstrap.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        for job_name, tags, partition in steps:
            began = time.monotonic()
            print(f"bootstrap: {job_name} ...", end=" ", flush=True)
            with log.open("a") as detail, redirect_stdout(detail), redirect_stderr(detail):
                job = defs.resolve_job_def(job_name)  # its warnings go to the log too
                result = job.execute_in_process(
                    instance=instance,
                    tags=tags or None,
                    partition_key=partition,
                    run_config=QUIET,
                    raise_on_error=False,
                )
            if not result.success:
                print("FAILED", flush=True)
                raise SystemExit(
                    f"bootstrap step {job_name} failed (run {result.run_id}); details in {log}"
                )
            print(f"ok ({time.monotonic() - began:.0f} s)", flush=True)


def _service_env() -> dict[str, str]:
    """This environment with telemetry off, the absolute root, and its bin first on PATH
    (dagster-dbt runs `dbt` from PATH under `dagster dev`)."""
    env = {
        **os.environ,
        **TELEMETRY_OFF,
        # the children resolve the same root as this process, whatever their cwd
        "TRADING_HOME": str(paths().home),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        # dagster-dbt copies this target's partial-parse state into each invocation's folder
        "DBT_TARGET_PATH": str(dbt_target_dir()),
    }
    # Every Dagster run is a new process that loads the code location: let Python cache
    # bytecode (some machines disable it globally, tripling the start-up of each run).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def services(port: int, logs: Path) -> list[ChildSpec]:
    """What `make run` serves: `dagster dev` (webserver + daemon), the paper executor, the web
    cockpit and, when configured, the Telegram bot."""
    env = _service_env()
    dagster = [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1",
               "-p", str(port)]  # fmt: skip
    return [
        ChildSpec("dagster", dagster, logs / "dagster.log", cwd=PROJECT_ROOT, env=env),
        ChildSpec(
            "executor",
            [str(BIN / "python"), "-m", "executor", "run", "--mode", "paper"],
            logs / "executor.log",
            cwd=PROJECT_ROOT,
            env=env,
            refusal_code=2,  # refused to start: its log says why
            severity="critical",  # while it is down, stops go unwatched
        ),
        ChildSpec(
            "cockpit",
            [str(BIN / "python"), "-m", "trading_pipelines.cockpit"],
            logs / "cockpit.log",
            cwd=PROJECT_ROOT,
            env=env,
        ),
        *_telegram_bot(env, logs),
    ]


def _telegram_bot(env: dict[str, str], logs: Path) -> list[ChildSpec]:
    """The Telegram bot, when its token is configured (the bot is optional)."""
    if not (env.get(TELEGRAM_TOKEN_ENV) or env.get(f"{TELEGRAM_TOKEN_ENV}_FILE")):
        return []
    return [
        ChildSpec(
            "telegram_bot",
            [str(BIN / "python"), "-m", "trading_pipelines.telegram_bot"],
            logs / "telegram_bot.log",
            cwd=PROJECT_ROOT,
            env=env,
            refusal_code=2,  # a malformed token, no allow-listed chat: its log says why
        )
    ]


def serve(port: int = DEFAULT_PORT) -> int:
    root = paths()
    logs = root.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env_url = f"http://127.0.0.1:{port}"
    os.environ.setdefault("TRADING_DAGSTER_URL", env_url)
    cfg = config()
    market, timeframe = cfg.market, cfg.strategy.timeframe
    print(
        f"\nTrading Pipelines is running ({market.source} market on "
        f"{', '.join(market.exchanges)}: {', '.join(market.symbols)}; "
        f"{cfg.executor.mode} executor on {cfg.executor.exchange}).\n"
        f"  Dagster UI      {env_url}  (Assets > lineage; Runs; Automation)\n"
        f"  cockpit         http://{cfg.cockpit.host}:{cfg.cockpit.port}  (equity, positions, "
        "trades, signals, actions)\n"
        f"  logs            {logs}/dagster.log, {logs}/executor.log\n"
        f"  executor health {root.executor_state}/health.json\n"
        f"  alerts          {root.home}/alerts.jsonl\n"
        f"  reports         {root.reports}\n"
        f"  warehouse       {root.warehouse} (written by Dagster runs only)\n"
        f"  ledger          {root.ledger_url()}\n"
        f"Each new {timeframe} bar (on the market clock): new_bar_sensor arms an evaluation "
        "before\nit closes, the run ingests it and evaluates the strategy, the executor fills "
        "the intent\nand reports execution/fills, and the journals refresh.\n"
        "Operator controls: `trading control pause|resume|close-all|halt`.\n"
        "A process that exits is restarted with backoff (and alerted). Ctrl-C cancels the\n"
        "queued and running Dagster runs, then stops everything.",
        flush=True,
    )
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    # the supervisor, its upkeep (watchdog, retention) and the clean stop of Dagster's runs
    supervisor_log = logging.getLogger("trading_pipelines")
    supervisor_log.addHandler(console)
    supervisor_log.setLevel(logging.INFO)
    from trading_pipelines.upkeep import Upkeep  # imports dagster: only when serving

    alerter = Alerter.for_home(root.home)
    upkeep = Upkeep(config(), root, alerter, dbt_target=dbt_target_dir())
    supervise(
        services(port, logs),
        alerter,
        tasks=upkeep.tasks(),
        before_stop=upkeep.before_stop,
        after_stop=upkeep.after_stop,
    )
    print("stopped every process started by make run", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trading_pipelines.launcher")
    parser.add_argument("command", choices=["prepare", "bootstrap", "run"])
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("TRADING_DAGSTER_PORT", DEFAULT_PORT))
    )
    parser.add_argument("--days", type=int, default=BOOTSTRAP_DAYS)
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            prepare()
            return 0
        if args.command == "run":
            prepare()
        else:
            prepare_dagster_home()
        # bootstrap's dbt runs in this process: the same parse state as the services'
        os.environ["DBT_TARGET_PATH"] = str(dbt_target_dir())
        played = start_market(args.days) is not None
        bootstrap(args.days)
        if args.command == "bootstrap":
            return 0
        if played:
            print(play_market(), flush=True)
    except ConfigError as exc:
        print(f"refusing to start: {exc}", file=sys.stderr, flush=True)
        return 2
    return serve(args.port)


if __name__ == "__main__":
    raise SystemExit(main())
