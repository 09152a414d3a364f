"""``trading plot``: a price chart with the strategy's indicators and its entries/exits.

    trading plot --ohlcv FILE.csv --strategy macd [--param NAME=VALUE ...] [conventions] \\
        [--stop-loss X] [--take-profit Y] [--trailing-stop Z] [--gaps bridge|split] \\
        --out BASE

writes ``BASE.png`` and ``BASE.html`` (interactive: zoom, pan, hover; self-contained). The
fills are those of ``trading backtest`` with the same arguments.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trading_pipelines.cli.research import (
    _add_gaps,
    _add_ohlcv,
    _gapped_bars,
    _parse_param,
    _user_errors,
    add_conventions,
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("plot", help="price, indicators and fills as PNG and HTML")
    _add_ohlcv(parser)
    add_conventions(parser)
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--stop-loss", type=float, default=None, metavar="PCT")
    parser.add_argument("--take-profit", type=float, default=None, metavar="PCT")
    parser.add_argument("--trailing-stop", type=float, default=None, metavar="PCT")
    _add_gaps(parser)
    parser.add_argument(
        "--out", required=True, type=Path, metavar="BASE", help="writes BASE.png, BASE.html"
    )
    parser.set_defaults(run=_user_errors(plot))


def plot(args: argparse.Namespace) -> int:
    from trading_core.backtest import run_backtest
    from trading_core.research.plot import plot_png, strategy_panels, trade_marks
    from trading_core.research.plot_html import plot_html
    from trading_core.strategies import get_strategy
    from trading_pipelines.cli.research import config_from_args

    strategy = get_strategy(args.strategy, dict(_parse_param(p) for p in args.param))
    config = config_from_args(
        args,
        stop_loss_pct=args.stop_loss,
        take_profit_pct=args.take_profit,
        trailing_stop_pct=args.trailing_stop,
    )
    bars, start, _ = _gapped_bars(args)
    result = run_backtest(bars, strategy, config, trade_from=start)
    panels = strategy_panels(strategy, bars)
    shown = bars["ts"] >= result.window_start
    window = bars[shown].reset_index(drop=True)
    panels.overlays = {
        k: v[shown.to_numpy()].reset_index(drop=True) for k, v in panels.overlays.items()
    }
    panels.below = {
        name: {k: v[shown.to_numpy()].reset_index(drop=True) for k, v in lines.items()}
        for name, lines in panels.below.items()
    }
    marks = trade_marks(result.trades, result.open_trade)
    params = ", ".join(f"{k}={v}" for k, v in result.params.items() if v is not None)
    title = (
        f"{result.strategy}({params})\n{result.window_start:%Y-%m-%d} -> "
        f"{result.window_end:%Y-%m-%d}, fill {config.fill}, total return "
        f"{result.metrics['total_return']:+.2%}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    png = plot_png(args.out.with_suffix(".png"), window, panels, marks, title)
    page = plot_html(args.out.with_suffix(".html"), window, panels, marks, title)
    print(f"wrote {png} and {page} ({len(window)} bars, {len(marks)} fills)")
    return 0
