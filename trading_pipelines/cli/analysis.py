"""Bias tools from the terminal (``trading_core.analysis``), for built-in and user strategies.

    trading lookahead-analysis --ohlcv FILE.csv (--strategy NAME | --strategy-file PATH) \\
        [--param NAME=VALUE ...] [--max-cuts N] [--json]
    trading recursive-analysis --ohlcv FILE.csv (--strategy NAME | --strategy-file PATH) \\
        [--param NAME=VALUE ...] [--tolerance 1e-9] [--json]

Both exit 0 whatever they find (a finding is a result, not an error); a bad file, strategy
or parameter is a one-line error with exit status 2. ``--json`` of lookahead-analysis has
``lookahead`` (true/false) and ``findings`` (one per changed column: ``column``, ``kind``,
``first_changed_bar``, ...); of recursive-analysis ``indicators`` (``column``,
``startup_bars``), ``needed``, ``warmup_bars`` and ``enough``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from trading_pipelines.cli import research


def _add_common(parser: argparse.ArgumentParser) -> None:
    research._add_ohlcv(parser)
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument("--strategy", help="registered strategy name, e.g. macd")
    choice.add_argument(
        "--strategy-file", type=Path, metavar="PATH", help="a Python file defining one Strategy"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="strategy parameter (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0 < value < 1:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """``lookahead-analysis`` and ``recursive-analysis``."""
    look = sub.add_parser(
        "lookahead-analysis",
        help="does cutting the data after a signal change any earlier indicator, signal or trade?",
    )
    _add_common(look)
    look.add_argument(
        "--max-cuts",
        type=_positive_int,
        default=20,
        metavar="N",
        help="signal bars to cut after, sampled evenly (default 20)",
    )
    look.set_defaults(run=research._user_errors(lookahead))

    rec = sub.add_parser(
        "recursive-analysis",
        help="startup bars each indicator needs to reach its full-history value",
    )
    _add_common(rec)
    rec.add_argument(
        "--tolerance",
        type=_tolerance,
        default=1e-9,
        help="relative to the indicator's scale (default 1e-9)",
    )
    rec.set_defaults(run=research._user_errors(recursive))


def _inputs(args: argparse.Namespace) -> tuple[Any, Any]:
    from trading_core.strategies import get_strategy

    params = dict(research._parse_param(p) for p in args.param)
    strategy = get_strategy(args.strategy, params)
    return research._load_bars(args.ohlcv, None, None), strategy


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    return "-" if value is None else str(value)[:24]


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def lookahead_table(report: dict[str, Any], source: str) -> str:
    head = (
        f"Lookahead analysis of {report['strategy']} {json.dumps(report['params'])} on "
        f"{source}: {report['bars']} bars {report['first_bar']} -> {report['last_bar']}\n"
        f"cut after {report['cuts_checked']} of {report['signal_bars']} signal bars; "
        f"checked {len(report['columns_checked'])} columns (signals, indicators, trades)"
    )
    if not report["lookahead"]:
        return f"{head}\nno lookahead: every earlier value and closed trade was unchanged"
    rows = [["column", "kind", "first changed bar", "cut after", "full", "truncated", "cuts"]]
    rows += [
        [
            f["column"],
            f["kind"],
            f["first_changed_bar"],
            f["truncated_at_bar"],
            _short(f["full_value"]),
            _short(f["truncated_value"]),
            f"{f['cuts_changed']}/{report['cuts_checked']}",
        ]
        for f in report["findings"]
    ]
    return (
        f"{head}\nLOOKAHEAD: {len(report['findings'])} column(s) changed when the data was "
        f"cut after a signal\n{_table(rows)}"
    )


def recursive_table(report: dict[str, Any], source: str) -> str:
    head = (
        f"Recursive analysis of {report['strategy']} {json.dumps(report['params'])} on "
        f"{source}: last bar {report['evaluated_at']} ({report['bars']} bars), "
        f"tolerance {report['tolerance']:g} of each indicator's scale"
    )
    rows = [["indicator", "startup bars", "full-history value"]]
    rows += [
        [
            c["column"],
            f"{c['startup_bars']}"
            + (" (all the data: needs more)" if c["limited_by_data"] else ""),
            _short(c["full_value"]),
        ]
        for c in report["indicators"]
    ]
    verdict = "enough" if report["enough"] else "TOO FEW: raise warmup_bars"
    lines = [head, _table(rows) if report["indicators"] else "no numeric indicator columns"]
    if report["without_value"]:
        lines.append(f"no value at the last bar: {', '.join(report['without_value'])}")
    lines.append(
        f"needed {report['needed']} startup bars; the strategy declares warmup_bars = "
        f"{report['warmup_bars']}: {verdict}"
    )
    return "\n".join(lines)


def lookahead(args: argparse.Namespace) -> int:
    from trading_core.analysis.lookahead import lookahead_analysis

    bars, strategy = _inputs(args)
    report = lookahead_analysis(bars, strategy, max_cuts=args.max_cuts).to_dict()
    print(json.dumps(report, indent=2) if args.json else lookahead_table(report, args.ohlcv))
    return 0


def recursive(args: argparse.Namespace) -> int:
    from trading_core.analysis.recursive import recursive_analysis

    bars, strategy = _inputs(args)
    report = recursive_analysis(bars, strategy, tolerance=args.tolerance).to_dict()
    print(json.dumps(report, indent=2) if args.json else recursive_table(report, args.ohlcv))
    return 0
