"""Research from the terminal: indicators, backtests and sweeps on OHLCV CSV files.

    trading indicators --ohlcv FILE.csv --out OUT.csv
    trading backtest --ohlcv FILE.csv --strategy macd --param fast=12 --param slow=26 \\
        --param signal=9 --fee 0.001 --fill close [--slippage-bps X] [--start D --end D] \\
        [--warmup auto|cold|N] [--stops-from fill|next] [--gaps bridge|split] \\
        [--breakdown day|week|month] [--json]
    trading sweep --ohlcv FILE.csv --strategy macd --params-file PARAMS.csv --fee 0.001 \\
        --fill close [--stop-loss X] [--take-profit Y] [--trailing-stop Z] \\
        [--slippage-bps B] [--min-trades N] [--warmup auto|cold|N] [--stops-from fill|next] \\
        [--gaps bridge|split] [--pbo-blocks 16] [--json] --out RESULTS.csv

``sweep`` also reports the probability of backtest overfitting (CSCV over ``--pbo-blocks``
blocks; 0 skips it) and the deflated Sharpe ratio of its best row, and says "NOT ROBUST"
when PBO > 0.5 or the deflated Sharpe is not significant (``trading_core.research``).
``--gaps``: the input's gaps are reported (count, missing candles, largest) with a warning;
``bridge`` (default) runs across them, ``split`` keeps the longest gap-free segment.

``--start`` opens the window; earlier bars of the file warm up the indicators (``--warmup
auto``, the default: as many as the strategy needs; ``cold``: none; ``N``: N bars).

CSV files use the layout of ``../shared/data/market``: header
``timestamp,open,high,low,close,volume``, ``timestamp`` = candle open time (ISO-8601, UTC).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trading_pipelines.cli import CliError

Command = Callable[[argparse.Namespace], int]

# BacktestConfig field -> the option that sets it, for error messages.
OPTION_OF_FIELD: dict[str, str] = {
    "fee": "--fee",
    "maker_fee": "--maker-fee",
    "fill": "--fill",
    "slippage_bps": "--slippage-bps",
    "initial_cash": "--initial-cash",
    "stop_loss_pct": "--stop-loss",
    "take_profit_pct": "--take-profit",
    "trailing_stop_pct": "--trailing-stop",
    "stops_from": "--stops-from",
    "warmup": "--warmup",
    # optimise / walk-forward settings
    "n_trials": "--trials",
    "min_trades": "--min-trades",
    "patience": "--patience",
    "timeout": "--timeout",
    "in_sample_bars": "--in-sample",
    "out_of_sample_bars": "--out-of-sample",
    "history_bars": "--history-bars",
    "pbo_blocks": "--pbo-blocks",
}


def _user_errors(command: Command) -> Command:
    """Parameter, data and strategy errors of ``command`` become one-line ``CliError``s."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        from pydantic import ValidationError

        from trading_core.backtest import DataError
        from trading_core.strategies import StrategyError

        try:
            if getattr(args, "strategy_file", None) is not None:
                from trading_core.strategies.registry import register_strategy_file

                args.strategy = register_strategy_file(args.strategy_file).name
            return command(args)
        except ValidationError as err:
            raise CliError(
                "; ".join(
                    f"{OPTION_OF_FIELD.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']} "
                    f"(got {e.get('input')!r})"
                    for e in err.errors()
                )
            ) from err
        except (DataError, StrategyError, ValueError) as err:
            raise CliError(str(err)) from err

    return run


def _parse_param(text: str) -> tuple[str, Any]:
    """``name=value``; the value is read as JSON when it is JSON (numbers, true, null, {...}),
    else kept as text. The strategy's parameter model validates it."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise CliError(f"--param {text!r}: expected NAME=VALUE, e.g. --param fast=12")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return name.strip(), value


def _add_ohlcv(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ohlcv",
        required=True,
        type=Path,
        metavar="FILE.csv",
        help="candles with header timestamp,open,high,low,close,volume",
    )


def _warmup_arg(text: str) -> str | int:
    from trading_core.backtest.warmup import parse_warmup

    try:
        return parse_warmup(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_conventions(parser: argparse.ArgumentParser) -> None:
    """The one place the convention flags of ``backtest``, ``sweep`` and ``replay`` are
    declared (``BacktestConfig`` validates them; ``config_from_args`` builds it)."""
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument("--strategy", help="registered strategy name, e.g. macd")
    choice.add_argument(
        "--strategy-file", type=Path, metavar="PATH", help="a Python file defining one Strategy"
    )
    parser.add_argument("--fee", type=float, default=0.001, help="taker fee per side (0.001)")
    parser.add_argument("--maker-fee", type=float, default=None, help="default: --fee")
    parser.add_argument(
        "--fill",
        default="close",
        choices=("close", "next_open"),
        help="close: the signal bar's close (default); next_open: the next bar's open",
    )
    parser.add_argument("--slippage-bps", type=float, default=0.0, help="against the trader")
    parser.add_argument("--initial-cash", type=float, default=10_000.0)
    parser.add_argument(
        "--stops-from",
        default="fill",
        choices=("fill", "next"),
        help="on a next_open entry, check stops from the fill bar itself (fill, default) or "
        "from the following bar (next)",
    )
    parser.add_argument("--start", default=None, help="first bar (open time, UTC), inclusive")
    parser.add_argument("--end", default=None, help="last bar (open time, UTC), inclusive")
    parser.add_argument(
        "--warmup",
        default="auto",
        type=_warmup_arg,
        metavar="auto|cold|N",
        help="bars before --start that warm up the indicators: auto (default, as many as "
        "the strategy needs), cold (none) or a number of bars",
    )


_add_conventions = add_conventions  # the name the brief of the replay command uses


def register(sub: argparse._SubParsersAction) -> None:
    """``indicators``, ``backtest`` and ``sweep``."""
    ind = sub.add_parser("indicators", help="every default indicator column for a CSV")
    _add_ohlcv(ind)
    ind.add_argument("--out", required=True, type=Path, metavar="OUT.csv")
    ind.add_argument(
        "--convention",
        default="talib",
        choices=("talib", "pandas"),
        help="EMA/MACD seeding: talib (SMA seed, default) or pandas (ewm adjust=False)",
    )
    _add_gaps(ind)
    ind.set_defaults(run=_user_errors(indicators))

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

    sw = sub.add_parser("sweep", help="one backtest per row of a parameter CSV")
    _add_ohlcv(sw)
    _add_conventions(sw)
    sw.add_argument(
        "--params-file",
        required=True,
        type=Path,
        metavar="PARAMS.csv",
        help="one column per strategy parameter, one row per scenario",
    )
    sw.add_argument("--stop-loss", type=float, default=None, metavar="PCT", help="e.g. 0.03")
    sw.add_argument("--take-profit", type=float, default=None, metavar="PCT", help="e.g. 0.06")
    sw.add_argument("--trailing-stop", type=float, default=None, metavar="PCT", help="e.g. 0.04")
    sw.add_argument(
        "--min-trades",
        type=int,
        default=10,
        metavar="N",
        help="flag rows (too_few_trades) closing fewer trades; rows are never dropped (10)",
    )
    sw.add_argument(
        "--pbo-blocks",
        type=int,
        default=16,
        metavar="S",
        help="CSCV blocks for the probability of backtest overfitting (even; 0 = skip)",
    )
    sw.add_argument("--json", action="store_true", help="print a JSON summary to stdout")
    _add_gaps(sw)
    sw.add_argument("--out", required=True, type=Path, metavar="RESULTS.csv")
    sw.set_defaults(run=_user_errors(sweep))


def _add_gaps(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gaps",
        default="bridge",
        choices=("bridge", "split"),
        help="bridge the input's gaps (default; warns) or split at them and keep the "
        "longest gap-free segment",
    )


def _load_bars(path: Path, start: str | None, end: str | None) -> Any:
    """The file's bars up to ``end``: history before ``start`` stays, for the warm-up."""
    from trading_core.backtest import read_ohlcv_csv, window

    bars = read_ohlcv_csv(path)
    if start is not None:
        window(bars, start, end)  # a DataError when the window itself is empty
    return window(bars, None, end) if end else bars


def _gapped_bars(args: argparse.Namespace) -> tuple[Any, str | None, dict[str, Any]]:
    """``_load_bars`` under ``--gaps``: the bars, the window's start and the gap report of
    the window (a warning on stderr when it has gaps). ``split`` keeps the longest gap-free
    segment of the window, with the history before it for the warm-up."""
    import pandas as pd

    from trading_core.research.gaps import apply_gap_mode, gap_warning

    bars = _load_bars(args.ohlcv, args.start, args.end)
    start = args.start
    scope = bars if start is None else bars[bars["ts"] >= pd.Timestamp(start)]
    kept, gaps = apply_gap_mode(scope.reset_index(drop=True), args.gaps)
    if args.gaps == "split" and gaps["gaps"]:
        last = kept["ts"].iloc[-1]
        bars = bars[bars["ts"] <= last].reset_index(drop=True)
        start = pd.Timestamp(kept["ts"].iloc[0]).isoformat()
    warning = gap_warning(gaps)
    if warning:
        print(warning, file=sys.stderr)
    return bars, start, gaps


def config_from_args(args: argparse.Namespace, **extra: Any) -> Any:
    """``BacktestConfig`` from the flags of ``add_conventions``, plus ``extra`` fields."""
    from trading_core.backtest import BacktestConfig

    return BacktestConfig(
        fee=args.fee,
        maker_fee=args.maker_fee,
        fill=args.fill,
        slippage_bps=args.slippage_bps,
        initial_cash=args.initial_cash,
        stops_from=args.stops_from,
        warmup=args.warmup,
        **extra,
    )


_config = config_from_args


def indicators(args: argparse.Namespace) -> int:
    import pandas as pd

    from trading_core.backtest.data import parse_ohlcv, read_csv_table, time_column
    from trading_core.indicators import compute_all
    from trading_core.research.gaps import apply_gap_mode, gap_warning

    table = read_csv_table(args.ohlcv)
    bars = parse_ohlcv(table, str(args.ohlcv))
    kept, gaps = apply_gap_mode(bars, args.gaps)
    warning = gap_warning(gaps)
    if warning:
        print(warning, file=sys.stderr)
    source = time_column(table)
    if len(kept) != len(bars):  # --gaps split: only the rows of the segment kept
        from trading_core.backtest.data import to_naive_utc

        table = table[to_naive_utc(table[source]).isin(kept["ts"]).to_numpy()]
        table = table.reset_index(drop=True)
        bars = kept.reset_index(drop=True)
    out = pd.concat([table[[source]], compute_all(bars, convention=args.convention)], axis=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.out, index=False)
    print(f"wrote {len(out)} rows x {out.shape[1] - 1} indicator columns to {args.out}")
    return 0


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


def _read_params(path: Path, strategy: str) -> Any:
    import pandas as pd

    from trading_core.strategies import STRATEGIES, StrategyError

    if strategy not in STRATEGIES:
        raise StrategyError(f"unknown strategy {strategy!r}; allowed: {sorted(STRATEGIES)}")
    expected = ", ".join(STRATEGIES[strategy].params_model.model_fields)
    try:
        params = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CliError(
            f"cannot read {path}: {err}; expected a CSV whose header names parameters of "
            f"{strategy!r} ({expected})"
        ) from err
    if params.empty:
        raise CliError(f"{path} has no parameter rows; header names parameters ({expected})")
    return params


def sweep(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from trading_core.backtest.sweep_report import sweep_run

    params = _read_params(args.params_file, args.strategy)
    if args.pbo_blocks < 0 or args.pbo_blocks % 2:
        raise CliError(f"--pbo-blocks must be 0 or an even number >= 2, got {args.pbo_blocks}")
    bars, window_start, gaps = _gapped_bars(args)
    config = _config(
        args,
        stop_loss_pct=args.stop_loss,
        take_profit_pct=args.take_profit,
        trailing_stop_pct=args.trailing_stop,
    )
    start = 0
    if window_start is not None:
        start = int(np.searchsorted(bars["ts"], pd.Timestamp(window_start)))
    blocks = args.pbo_blocks if len(params) >= 2 else 0
    if sys.stderr.isatty():
        from tqdm import tqdm

        with tqdm(
            total=len(params), desc=f"sweep {args.strategy}", unit="scenario", file=sys.stderr
        ) as bar:
            run = sweep_run(
                bars, args.strategy, params, config, start=start,
                min_trades=args.min_trades, progress=bar.update, blocks=blocks,
            )  # fmt: skip
    else:
        run = sweep_run(
            bars, args.strategy, params, config, start=start, min_trades=args.min_trades,
            blocks=blocks,
        )  # fmt: skip
    results = run.table
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results.to_csv(args.out, index=False)
    head = results.iloc[0]
    overfitting = None
    if blocks and run.swept.counts.size == blocks:
        from trading_core.research.selection import block_overfitting

        overfitting = block_overfitting(
            run.swept, run.bars, args.strategy, params,
            config.model_copy(update={"warmup": "all"}), run.start,
        )  # fmt: skip
    if args.json:
        _print_sweep_json(args, results, config, gaps, overfitting)
        return 0
    warm = "cold" if config.warmup == "cold" else f"warmup={config.warmup}"
    print(
        f"wrote {len(results)} scenarios to {args.out} (fill={config.fill}, "
        f"stops_from={config.stops_from}, {warm}, window from {head['window_start']} to "
        f"{head['window_end']}; {int(results['too_few_trades'].sum())} rows with fewer than "
        f"{args.min_trades} closed trades flagged)"
    )
    if overfitting is not None:
        from trading_core.research.report import verdict_lines

        pbo, dsr = overfitting["pbo"], overfitting["dsr"]
        print(
            f"overfitting: PBO {pbo['pbo']:.3f} (CSCV, {pbo['blocks']} blocks, "
            f"{pbo['combinations']} of {pbo['all_combinations']} splits); deflated Sharpe of "
            f"the best row ({overfitting['best']['params']}) {dsr['dsr']:.3f} over "
            f"{dsr['n_trials']} trials"
        )
        print("\n".join(verdict_lines(overfitting)))
    return 0


def _print_sweep_json(
    args: argparse.Namespace,
    results: Any,
    config: Any,
    gaps: dict[str, Any],
    overfitting: dict[str, Any] | None,
) -> None:
    """The sweep's summary: where the CSV went, its window and conventions, the gaps, the
    min-trades guard and the overfitting statistics."""
    from trading_core.backtest.result import json_safe
    from trading_core.backtest.sweep_report import CONVENTION_COLUMNS

    head = results.iloc[0]
    constant = [c for c in CONVENTION_COLUMNS if c not in ("too_few_trades",)]
    document = {
        "strategy": args.strategy,
        "out": str(args.out),
        "rows": len(results),
        **{c: head[c] for c in constant if results[c].nunique(dropna=False) <= 1},
        "gap_mode": gaps["gap_mode"],
        "too_few_trades_rows": int(results["too_few_trades"].sum()),
        "overfitting": overfitting,
        "stops_from": config.stops_from,
    }
    print(json.dumps(json_safe(document), indent=2, default=str))
