"""``trading backtest --config FILE.yaml --data-dir DIR [--start D] [--end D] --json``.

Hooked into the ``backtest`` parser of ``trading_pipelines/cli/research.py``: the options
are added there by ``add_portfolio_options`` and ``backtest`` hands over to
``run_portfolio_command`` when ``--config`` is given (or when the single-strategy
``--ohlcv``/``--strategy`` are missing, to say what is needed). Without ``--config`` nothing
changes. Cash comes from ``executor.starting_cash``, fees and slippage from ``fees:``; the
flags of the single-strategy run that the configuration decides are refused with it.
Light at import: the engine is imported on use.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# Options of the single-strategy backtest that a configuration decides, and their defaults.
_DECIDED_BY_CONFIG: dict[str, tuple[str, object]] = {
    "ohlcv": ("--ohlcv", None),
    "strategy": ("--strategy", None),
    "strategy_file": ("--strategy-file", None),
    "param": ("--param", []),
    "fee": ("--fee", 0.001),
    "maker_fee": ("--maker-fee", None),
    "fill": ("--fill", "close"),
    "slippage_bps": ("--slippage-bps", 0.0),
    "initial_cash": ("--initial-cash", 10_000.0),
    "stops_from": ("--stops-from", "fill"),
    "stop_loss": ("--stop-loss", None),
    "take_profit": ("--take-profit", None),
    "trailing_stop": ("--trailing-stop", None),
    "trades": ("--trades", None),
}


def add_portfolio_options(parser: argparse.ArgumentParser) -> None:
    """``--config``/``--data-dir``; ``--ohlcv`` and ``--strategy`` become optional (the
    single-strategy run still demands them, see ``run_portfolio_command``)."""
    for action in parser._actions:
        if action.dest in ("ohlcv", "strategy"):
            action.required = False
    for group in parser._mutually_exclusive_groups:  # --strategy | --strategy-file
        if any(action.dest == "strategy" for action in group._group_actions):
            group.required = False
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE.yaml",
        help="portfolio backtest: every instance of the config's strategies: list, protocol on",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="with --config: candles in the replay layout (binance_BTCUSDT_4h.csv)",
    )


def _check_flags(args: argparse.Namespace) -> None:
    if args.config is None:
        missing = [
            opt
            for dest, (opt, _) in _DECIDED_BY_CONFIG.items()
            if dest in ("ohlcv", "strategy") and getattr(args, dest, None) is None
        ]
        raise ValueError(
            f"the following arguments are required: {', '.join(missing)} "
            "(or --config FILE.yaml --data-dir DIR for a portfolio backtest)"
        )
    if args.data_dir is None:
        raise ValueError("--config needs --data-dir DIR (candles in the replay layout)")
    given = [
        opt
        for dest, (opt, default) in _DECIDED_BY_CONFIG.items()
        if getattr(args, dest, default) != default
    ]
    if given:
        raise ValueError(
            f"{', '.join(given)} cannot be combined with --config: the configuration decides "
            "them (strategies:, fees:, executor.starting_cash)"
        )
    warmup = getattr(args, "warmup", "auto")
    if warmup not in ("auto", "all"):
        raise ValueError(
            f"--warmup {warmup} cannot be combined with --config: a portfolio backtest warms "
            "up on every bar before --start"
        )


def run_portfolio_command(args: argparse.Namespace) -> int:
    from trading_core.config import load_config, trading_home
    from trading_core.config_portfolio import instances_of
    from trading_core.portfolio_backtest.data import load_instances
    from trading_core.portfolio_backtest.engine import run_portfolio
    from trading_core.portfolio_backtest.report import build_report
    from trading_core.quality.releases import ledger_path, read_releases
    from trading_core.quality.spike_policy import spike_policy_of

    _check_flags(args)
    config = load_config(args.config)
    instances = instances_of(config)
    # the configured spike hold and the home's release ledger, as live has them
    releases = read_releases(ledger_path(trading_home()))
    bars, used = load_instances(args.data_dir, instances, spike_policy_of(config.market), releases)
    run = run_portfolio(
        instances,
        bars,
        config.protocol,
        config.fees,
        config.executor.starting_cash,
        start=args.start,
        end=args.end,
    )
    report = build_report(run, used)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(describe(report))
    return 0


def describe(report: dict) -> str:
    """A short table of the run for the terminal."""
    p = report["portfolio"]
    lines = [
        f"portfolio {report['window']['start']} .. {report['window']['end']} "
        f"(fill at close, protocol on)",
        f"  total return {p['total_return']:+.2%}  max drawdown {p['max_drawdown']:.2%}  "
        f"sharpe {p['sharpe'] if p['sharpe'] is None else round(p['sharpe'], 3)}  "
        f"trades {p['trades']}  final tier {p['final_tier']}",
    ]
    for key, m in report["instances"].items():
        lines.append(
            f"  {key:<20} {m['strategy']:<10} return {m['total_return']:+.2%}  "
            f"drawdown {m['max_drawdown']:.2%}  trades {m['trades']}  refused "
            f"{m['entries_refused']}"
        )
    kinds: dict[str, int] = {}
    for event in report["events"]:
        kinds[event["kind"]] = kinds.get(event["kind"], 0) + 1
    lines.append("  events " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    return "\n".join(lines)
