"""``trading sweep``: one backtest per row of a parameter CSV, through the compiled kernel
(``trading_core.backtest.sweep``), with the overfitting statistics of the sweep.

    trading sweep --ohlcv FILE.csv --strategy macd --params-file PARAMS.csv --fee 0.001 \\
        --fill close [--stop-loss X] [--take-profit Y] [--trailing-stop Z] \\
        [--slippage-bps B] [--min-trades N] [--warmup auto|cold|N] [--stops-from fill|next] \\
        [--gaps bridge|split] [--pbo-blocks 16] [--json] --out RESULTS.csv
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from trading_pipelines.cli import CliError
from trading_pipelines.cli.research import (
    _add_conventions,
    _add_gaps,
    _add_ohlcv,
    _config,
    _gapped_bars,
    _read_params,
    _user_errors,
)


def register(sub: argparse._SubParsersAction) -> None:
    """``sweep``."""
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
