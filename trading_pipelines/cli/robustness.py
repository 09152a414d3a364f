"""Is a backtest's result real? ``trading optimise | walk-forward | monte-carlo``.

    trading optimise --ohlcv F.csv --strategy macd [conventions] [--trials 200] [--seed 0] \\
        [--objective sharpe|sortino|calmar|profit_over_drawdown|total_return ...] \\
        [--sampler tpe|nsga2] [--min-trades 5] [--patience 50] [--timeout S] \\
        [--space NAME=LOW:HIGH | NAME=A,B,C ...] [--holdout 0.3] [--json] [--report DIR]
    trading walk-forward --ohlcv F.csv --strategy macd --params-file P.csv [conventions] \\
        --in-sample N --out-of-sample M [--mode rolling|expanding] [--objective ...] \\
        [--min-trades 3] [--history-bars 1000] [--pbo-blocks 16] [--json] [--report DIR]
    trading monte-carlo --ohlcv F.csv --strategy macd [--param NAME=VALUE ...] [conventions] \\
        [--method all|shuffle|bootstrap|block] [--runs 1000] [--seed 0] [--block-bars N] \\
        [--json] [--report DIR]

Every command prints a readable summary (or, ``--json``, one JSON document carrying the
window, conventions, warm-up and gap counts); ``--report DIR`` also writes
``DIR/report.md`` with PNG charts. ``--gaps bridge|split`` (every research command):
bridge the input's gaps (default, with a warning) or keep its longest gap-free segment.
The computing lives in ``trading_core.research``; this module only parses and prints.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from trading_pipelines.cli import CliError
from trading_pipelines.cli.research import (
    _add_gaps,
    _add_ohlcv,
    _parse_param,
    _user_errors,
    add_conventions,
)

OBJECTIVE_CHOICES = ("sharpe", "sortino", "calmar", "profit_over_drawdown", "total_return")


def _add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--report", type=Path, default=None, metavar="DIR", help="write DIR/report.md + PNGs"
    )


def _add_exit_rules(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stop-loss", type=float, default=None, metavar="PCT")
    parser.add_argument("--take-profit", type=float, default=None, metavar="PCT")
    parser.add_argument("--trailing-stop", type=float, default=None, metavar="PCT")


def register(sub: argparse._SubParsersAction) -> None:
    """``optimise``, ``walk-forward`` and ``monte-carlo``."""
    op = sub.add_parser("optimise", help="optuna search (TPE, NSGA-II) with a hold-out")
    _add_ohlcv(op)
    add_conventions(op)
    _add_exit_rules(op)
    _add_gaps(op)
    op.add_argument("--trials", type=int, default=200)
    op.add_argument("--seed", type=int, default=0)
    op.add_argument(
        "--objective",
        action="append",
        choices=OBJECTIVE_CHOICES,
        default=None,
        help="maximised (repeat for several: NSGA-II, a Pareto front); default sharpe",
    )
    op.add_argument("--sampler", choices=("tpe", "nsga2"), default=None)
    op.add_argument("--min-trades", type=int, default=5, help="prune trials closing fewer")
    op.add_argument("--patience", type=int, default=50, help="stop after N trials w/o gain")
    op.add_argument("--timeout", type=float, default=None, metavar="SECONDS")
    op.add_argument(
        "--space",
        action="append",
        default=[],
        metavar="NAME=LOW:HIGH|A,B,C",
        help="a search dimension (repeatable); stop_loss, take_profit and trailing_stop "
        "search the exit rules; default for macd: fast=2:40 slow=3:80 signal=2:20",
    )
    op.add_argument(
        "--holdout",
        type=float,
        default=0.3,
        metavar="FRACTION",
        help="the last FRACTION of the window is never searched; the winner is backtested "
        "on it (0.3; 0 = none)",
    )
    _add_output(op)
    op.set_defaults(run=_user_errors(optimise))

    wf = sub.add_parser("walk-forward", help="rolling or expanding walk-forward validation")
    _add_ohlcv(wf)
    add_conventions(wf)
    _add_gaps(wf)
    wf.add_argument("--params-file", required=True, type=Path, metavar="PARAMS.csv")
    wf.add_argument("--in-sample", required=True, type=int, metavar="BARS")
    wf.add_argument("--out-of-sample", required=True, type=int, metavar="BARS")
    wf.add_argument("--mode", choices=("rolling", "expanding"), default="rolling")
    wf.add_argument("--objective", choices=OBJECTIVE_CHOICES, default="sharpe")
    wf.add_argument("--min-trades", type=int, default=3)
    wf.add_argument("--history-bars", type=int, default=1000, help="warm-up bars per window")
    wf.add_argument("--pbo-blocks", type=int, default=16, help="CSCV blocks (even; 0 = no PBO)")
    _add_output(wf)
    wf.set_defaults(run=_user_errors(walk_forward))

    mc = sub.add_parser("monte-carlo", help="trade shuffle/bootstrap, block bootstrap of bars")
    _add_ohlcv(mc)
    add_conventions(mc)
    _add_exit_rules(mc)
    _add_gaps(mc)
    mc.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    mc.add_argument("--method", choices=("all", "shuffle", "bootstrap", "block"), default="all")
    mc.add_argument("--runs", type=int, default=1000)
    mc.add_argument("--seed", type=int, default=0)
    mc.add_argument(
        "--block-bars", type=int, default=None, metavar="N", help="default: cube root of bars"
    )
    _add_output(mc)
    mc.set_defaults(run=_user_errors(monte_carlo))


def _parse_dimension(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name.strip() or not raw.strip():
        raise CliError(f"--space {text!r}: expected NAME=LOW:HIGH or NAME=A,B,C")
    if ":" in raw:
        low_text, _, high_text = raw.partition(":")
        try:
            low, high = json.loads(low_text), json.loads(high_text)
        except json.JSONDecodeError as err:
            raise CliError(f"--space {text!r}: LOW and HIGH must be numbers") from err
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
        if not numbers or not low < high:
            raise CliError(f"--space {text!r}: needs numbers LOW < HIGH, got {low!r}:{high!r}")
        if not (isinstance(low, int) and isinstance(high, int)):
            low, high = float(low), float(high)
        return name.strip(), (low, high)
    choices = [_parse_param(f"x={v}")[1] for v in raw.split(",") if v.strip()]
    if not choices:
        raise CliError(f"--space {text!r}: no choices")
    return name.strip(), choices


def _prepare(args: argparse.Namespace) -> tuple[Any, int, dict[str, Any]]:
    """Bars (gap mode applied), the window's first index, and the gap report: the research
    commands' ``_gapped_bars``, with the window's start as an index."""
    import numpy as np
    import pandas as pd

    from trading_pipelines.cli.research import _gapped_bars

    bars, start, gaps = _gapped_bars(args)
    first = 0 if start is None else int(np.searchsorted(bars["ts"], pd.Timestamp(start)))
    return bars, first, gaps


def _config(args: argparse.Namespace) -> Any:
    from trading_pipelines.cli.research import config_from_args

    return config_from_args(
        args,
        stop_loss_pct=getattr(args, "stop_loss", None),
        take_profit_pct=getattr(args, "take_profit", None),
        trailing_stop_pct=getattr(args, "trailing_stop", None),
    )


def _emit(args: argparse.Namespace, document: dict[str, Any], text: str, report: Any) -> int:
    from trading_core.backtest.result import json_safe

    if args.report is not None:
        path = report(args.report)
        document["report"] = str(path)
        text += f"\nreport: {path}"
    if args.json:
        print(json.dumps(json_safe(document), indent=2, default=str))
    else:
        print(text)
    return 0


def optimise(args: argparse.Namespace) -> int:
    from trading_core.research.optimise_run import run_optimise

    space = dict(_parse_dimension(d) for d in args.space) or None
    bars, start, gaps = _prepare(args)
    run = run_optimise(
        bars,
        args.strategy,
        _config(args),
        start=start,
        space=space,
        trials=args.trials,
        seed=args.seed,
        objectives=tuple(args.objective or ("sharpe",)),
        sampler=args.sampler,
        min_trades=args.min_trades,
        patience=args.patience,
        timeout=args.timeout,
        holdout=args.holdout,
        gaps=gaps,
    )
    return _emit(args, run.document, run.describe(), run.write_report)


def walk_forward(args: argparse.Namespace) -> int:
    from trading_core.research.walk_forward_run import run_walk_forward
    from trading_pipelines.cli.research import _read_params

    params = _read_params(args.params_file, args.strategy)
    bars, start, gaps = _prepare(args)
    run = run_walk_forward(
        bars,
        args.strategy,
        params,
        _config(args).model_copy(update={"warmup": "all"}),
        in_sample=args.in_sample,
        out_of_sample=args.out_of_sample,
        mode=args.mode,
        objective=args.objective,
        min_trades=args.min_trades,
        history_bars=args.history_bars,
        pbo_blocks=args.pbo_blocks,
        gaps=gaps,
        start=start,
    )
    return _emit(args, run.document, run.describe(), run.write_report)


def monte_carlo(args: argparse.Namespace) -> int:
    from trading_core.research.monte_carlo_run import run_monte_carlo

    params = dict(_parse_param(p) for p in args.param)
    bars, start, gaps = _prepare(args)
    run = run_monte_carlo(
        bars,
        args.strategy,
        params,
        _config(args),
        start=start,
        method=args.method,
        runs=args.runs,
        seed=args.seed,
        block=args.block_bars,
        gaps=gaps,
    )
    return _emit(args, run.document, run.describe(), run.write_report)
