"""``trading backtest``: one strategy on an OHLCV CSV (or, ``--config``, the portfolio
backtest), its metrics as a table or JSON; the report code ``replay`` shares.

    trading backtest --ohlcv FILE.csv --strategy macd --param fast=12 --param slow=26 \\
        --param signal=9 --fee 0.001 --fill close [--slippage-bps X] [--start D --end D] \\
        [--warmup auto|cold|N] [--stops-from fill|next] [--gaps bridge|split] \\
        [--breakdown day|week|month] [--json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from trading_pipelines.cli.research import (
    _add_conventions,
    _add_gaps,
    _add_ohlcv,
    _config,
    _gapped_bars,
    _parse_param,
    _user_errors,
)


def register(sub: argparse._SubParsersAction) -> None:
    """``backtest``."""
    bt = sub.add_parser("backtest", help="backtest one strategy; metrics as a table or JSON")
    _add_ohlcv(bt)
    _add_conventions(bt)
    bt.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="strategy parameter (repeatable)",
    )
    bt.add_argument("--stop-loss", type=float, default=None, metavar="PCT", help="e.g. 0.02")
    bt.add_argument("--take-profit", type=float, default=None, metavar="PCT")
    bt.add_argument("--trailing-stop", type=float, default=None, metavar="PCT")
    bt.add_argument("--json", action="store_true", help="print the metrics as JSON")
    bt.add_argument(
        "--breakdown",
        choices=("day", "week", "month"),
        default=None,
        help="per-period returns and closed trades (UTC calendar periods)",
    )
    _add_gaps(bt)
    bt.add_argument("--trades", type=Path, default=None, metavar="OUT.csv", help="closed trades")
    bt.set_defaults(run=_user_errors(backtest))
    from trading_core.portfolio_backtest.command import add_portfolio_options

    add_portfolio_options(bt)  # --config FILE --data-dir DIR: the portfolio backtest
    from trading_pipelines.cli.alt_data import add_alt_data_option

    add_alt_data_option(bt)  # --alt-data DIR --alt-asset ASSET


def single_inputs(args: argparse.Namespace) -> tuple[Any, str | None, dict[str, Any]]:
    """The bars of a single-strategy run (``backtest`` and ``replay`` alike) under
    ``--gaps`` and ``--alt-data``: the bars, the window's start, and the report's
    ``gaps`` and ``alt_data``."""
    from trading_pipelines.cli.alt_data import attach_alt_data

    bars, start, gaps = _gapped_bars(args)
    bars, alt_data = attach_alt_data(args, bars, start)
    return bars, start, {"gaps": gaps, "alt_data": alt_data}


def print_single_report(
    args: argparse.Namespace,
    result: Any,
    config: Any,
    inputs: dict[str, Any],
    title: str | None = None,
) -> None:
    """The one report of a single-strategy ``backtest`` or ``replay``: ``--trades`` CSV,
    ``--breakdown``, and the JSON keys (metrics, result, ``gaps``, ``alt_data``) or the
    readable text, whose first word ``title`` replaces."""
    if args.trades is not None:
        args.trades.parent.mkdir(parents=True, exist_ok=True)
        result.trades.to_csv(args.trades, index=False)
    table = None
    if args.breakdown is not None:
        from trading_core.research.breakdown import breakdown

        table = breakdown(result.equity, result.trades, config.initial_cash, args.breakdown)
    if args.json:
        from trading_core.backtest.result import json_safe
        from trading_core.research.breakdown import breakdown_records

        report = result.to_dict()
        metrics = report.pop("metrics")
        extra: dict[str, Any] = dict(inputs)
        if table is not None:
            extra["breakdown"] = json_safe(breakdown_records(table, args.breakdown))
        print(json.dumps({**metrics, **report, **extra}, indent=2))
        return
    text = result.describe()
    print(text.replace("Backtest ", f"{title} ", 1) if title else text)
    if table is not None:
        from trading_core.research.breakdown import format_breakdown

        print("\n" + format_breakdown(table, args.breakdown))


def backtest(args: argparse.Namespace) -> int:
    if args.config is not None or args.ohlcv is None or args.strategy is None:
        from trading_core.portfolio_backtest.command import run_portfolio_command

        return run_portfolio_command(args)
    from trading_core.backtest import run_backtest
    from trading_core.strategies import get_strategy

    params = dict(_parse_param(p) for p in args.param)
    strategy = get_strategy(args.strategy, params)
    config = _config(
        args,
        stop_loss_pct=args.stop_loss,
        take_profit_pct=args.take_profit,
        trailing_stop_pct=args.trailing_stop,
    )
    bars, start, inputs = single_inputs(args)
    result = run_backtest(bars, strategy, config, trade_from=start)
    print_single_report(args, result, config, inputs)
    return 0
