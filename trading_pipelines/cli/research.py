"""Research from the terminal: indicators, backtests and sweeps on OHLCV CSV files.

One module per command - ``indicators``, ``backtest``, ``sweep`` (``trading_pipelines/cli/``) -
and here what they share with ``replay``, ``optimise``/``walk-forward``/``monte-carlo``,
``plot`` and the analysis commands: the convention flags, the inputs (bars under ``--gaps``,
the parameter CSV), the error wrapper and ``register`` of the three commands.

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
    """``indicators``, ``backtest`` and ``sweep`` (``replay`` builds its parser from these)."""
    from trading_pipelines.cli import backtest, indicators, sweep

    indicators.register(sub)
    backtest.register(sub)
    sweep.register(sub)


def single_inputs(args: argparse.Namespace) -> tuple[Any, str | None, dict[str, Any]]:
    """``backtest.single_inputs`` (``replay`` calls it by this name)."""
    from trading_pipelines.cli.backtest import single_inputs as inputs

    return inputs(args)


def print_single_report(
    args: argparse.Namespace,
    result: Any,
    config: Any,
    inputs: dict[str, Any],
    title: str | None = None,
) -> None:
    """``backtest.print_single_report`` (``replay`` calls it by this name)."""
    from trading_pipelines.cli.backtest import print_single_report as report

    report(args, result, config, inputs, title)


def _add_gaps(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gaps",
        default="bridge",
        choices=("bridge", "split"),
        help="bridge the input's gaps (default; warns) or split at them and keep the "
        "longest gap-free segment",
    )


def spike_inputs() -> tuple[Any, list[Any]]:
    """The spike hold as the live path applies it: the configured policy
    (``spike_policy_of``: ``market.max_abs_log_return``, ``market.spike_confirm_bars`` of
    ``TRADING_CONFIG``, else ``$TRADING_HOME/trading.yaml``, else the defaults) and the
    operator's releases (``$TRADING_HOME/operator/data_releases.jsonl``; none without it)."""
    from trading_core.config import ConfigError, load_config, trading_home
    from trading_core.quality.releases import ReleaseError, ledger_path, read_releases
    from trading_core.quality.spike_policy import spike_policy_of

    try:
        return spike_policy_of(load_config().market), read_releases(ledger_path(trading_home()))
    except (ConfigError, ReleaseError) as err:
        raise CliError(f"the spike hold's configuration: {err}") from err


def _load_bars(path: Path, start: str | None, end: str | None) -> Any:
    """The file's bars up to ``end``: history before ``start`` stays, for the warm-up."""
    from trading_core.backtest import read_ohlcv_csv, window

    bars = read_ohlcv_csv(path, *spike_inputs())
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
