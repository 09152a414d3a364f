"""The ``trading`` command line, one module per command group:

- ``research``: ``trading indicators | backtest | sweep`` on OHLCV CSV files
- ``robustness``: ``trading optimise | walk-forward | monte-carlo`` (overfitting checks)
- ``plot``: ``trading plot`` (price, indicators and fills as PNG and HTML)
- ``intents``: ``trading intents submit FILE.jsonl`` (order intents into the executor's ledger)
- ``control``: ``trading control ...`` (operator commands, ``executor.control``)
- ``export``: ``trading export tax`` (tax-ready CSV of the ledger's fills)

A group module has ``register(sub)``, which adds its sub-commands and sets ``run`` (a
function of the parsed arguments returning the exit status) on each. Heavy modules (pandas,
numba, the executor) are imported only by the command that needs them, and never Dagster,
so the command line starts fast. A user error raises ``CliError``: one line, exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

EXIT_USAGE = 2


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    from trading_pipelines.cli import (
        alerts,
        analysis,
        cockpit,
        control,
        data,
        export,
        intents,
        plot,
        replay,
        research,
        robustness,
    )

    parser = argparse.ArgumentParser(
        prog="trading",
        description="Research on OHLCV CSV files, order intents and operator control.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (research, replay, analysis, intents, control, export, cockpit, alerts, data):
        group.register(sub)
    robustness.register(sub)
    plot.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trading`` console script; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["control"]:
        from trading_pipelines.cli import control

        # Everything after "control" belongs to the executor's own parser.
        return control.run(args_list[1:])
    parser = _parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return args.run(args)
    except CliError as err:
        print(f"trading {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
