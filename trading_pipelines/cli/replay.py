"""``trading replay``: a historical window through the live path (``trading_pipelines.replay``).

    trading replay --ohlcv FILE.csv --strategy macd --param fast=12 --fee 0.001 \\
        --fill close [--stop-loss PCT ...] [--start D --end D] [--json]
    trading replay --config FILE.yaml --data-dir DIR [--start D] [--end D] [--json]

With ``--config`` every instance of the configuration's ``strategies:`` runs through the live
path with the risk protocol on (``trading_pipelines.replay.portfolio``), printing the keys of
``trading backtest --config ... --json``.

It takes exactly the arguments of ``trading backtest``: its parser is built from the
backtest's (``research.register``) as a parent, so a flag added there (``--stops-from``, the
warm-up) is a replay flag too. With ``--json`` it prints the keys of ``trading backtest
--json``, from the same result code; without, the same readable report.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from trading_pipelines.cli import CliError, research


def _backtest_parser() -> argparse.ArgumentParser:
    scratch = argparse.ArgumentParser(add_help=False)
    research.register(scratch.add_subparsers())
    actions = scratch._subparsers._group_actions if scratch._subparsers else []
    for action in actions:
        if isinstance(action, argparse._SubParsersAction) and "backtest" in action.choices:
            return action.choices["backtest"]
    raise RuntimeError("trading backtest is not registered")  # a broken build, not a user


def register(sub: argparse._SubParsersAction) -> None:
    """``replay``: the arguments of ``backtest``, run through the live path."""
    parser = sub.add_parser(
        "replay",
        parents=[_backtest_parser()],
        conflict_handler="resolve",
        help="a window bar by bar through the live path (sensor cursor, strategy asset "
        "code, ledger, executor, paper broker); the backtest's arguments and JSON keys",
    )
    parser.set_defaults(run=research._user_errors(replay))


def _check_window(start: str | None, end: str | None) -> None:
    import pandas as pd

    try:
        first = pd.Timestamp(start) if start else None
        last = pd.Timestamp(end) if end else None
    except ValueError as err:
        raise CliError(f"--start/--end must be ISO dates or times: {err}") from err
    if first is not None and last is not None and first > last:
        raise CliError(f"--start {start} is after --end {end}: the window is empty")


def _extra_conventions(args: argparse.Namespace) -> dict[str, Any]:
    """The stop options of ``trading backtest`` (the conventions' flags are read by
    ``research.config_from_args``)."""
    extra: dict[str, Any] = {
        "stop_loss_pct": args.stop_loss,
        "take_profit_pct": args.take_profit,
        "trailing_stop_pct": args.trailing_stop,
    }
    return extra


def replay_portfolio(args: argparse.Namespace) -> int:
    """``--config FILE --data-dir DIR``: every instance through the live path, protocol on;
    the JSON keys of ``trading backtest --config ... --json``."""
    from trading_core.config import load_config
    from trading_core.portfolio_backtest.command import _check_flags, describe
    from trading_pipelines.replay.portfolio import run_portfolio_replay

    _check_window(args.start, args.end)
    _check_flags(args)  # the single-strategy flags the configuration decides are refused
    report = run_portfolio_replay(load_config(args.config), args.data_dir, args.start, args.end)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(describe(report).replace("portfolio ", "portfolio replay (live path) ", 1))
    return 0


def replay(args: argparse.Namespace) -> int:
    from trading_core.strategies import get_strategy
    from trading_pipelines.replay.run import run_replay

    if getattr(args, "config", None) is not None or args.ohlcv is None or args.strategy is None:
        return replay_portfolio(args)  # (without --config: says what is needed)
    _check_window(args.start, args.end)
    params = dict(research._parse_param(p) for p in args.param)
    strategy = get_strategy(args.strategy, params)
    config = research.config_from_args(args, **_extra_conventions(args))
    bars, start, inputs = research.single_inputs(args)
    run = run_replay(bars, strategy, config, trade_from=start)
    research.print_single_report(args, run.result, config, inputs, "Replay (live path)")
    return 0
