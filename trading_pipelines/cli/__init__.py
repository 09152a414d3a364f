"""The ``trading`` command line, one module per command group:

- ``indicators``, ``backtest``, ``sweep``: research on OHLCV CSV files (what they share, and
  ``replay``, ``plot`` and the robustness commands too, in ``research``)
- ``replay``: ``trading replay`` (a window through the live path)
- ``analysis``: ``trading lookahead-analysis | recursive-analysis``
- ``robustness``: ``trading optimise | walk-forward | monte-carlo`` (overfitting checks)
- ``plot``: ``trading plot`` (price, indicators and fills as PNG and HTML)
- ``intents``: ``trading intents submit FILE.jsonl`` (order intents into the executor's ledger)
- ``control``: ``trading control ...`` (operator commands, ``executor.control``)
- ``export``: ``trading export tax`` (tax-ready CSV of the ledger's fills)

- ``cockpit``, ``alerts``, ``data``: the web cockpit, alert delivery, market-data tools

A group module has ``register(sub)``, which adds its sub-commands and sets ``run`` (a
function of the parsed arguments returning the exit status) on each. ``COMMANDS`` maps each
command to its group: ``trading CMD ...`` imports and registers that group only, anything
else (``--help``, no or an unknown command) every group, in ``COMMANDS``' order, so the help
and the errors list every command. Heavy modules (pandas, numba, the executor) are imported
only by the command that needs them, and never Dagster, so the command line starts fast. A
user error raises ``CliError``: one line, exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

EXIT_USAGE = 2


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


# command -> the module (under trading_pipelines.cli) that registers it, in --help's order
COMMANDS: dict[str, str] = {
    "indicators": "indicators",
    "backtest": "backtest",
    "sweep": "sweep",
    "replay": "replay",
    "lookahead-analysis": "analysis",
    "recursive-analysis": "analysis",
    "intents": "intents",
    "control": "control",
    "export": "export",
    "cockpit": "cockpit",
    "alerts": "alerts",
    "data": "data",
    "optimise": "robustness",
    "walk-forward": "robustness",
    "monte-carlo": "robustness",
    "plot": "plot",
}


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with ``command``'s group only, or with every group (``None``)."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="trading",
        description="Research on OHLCV CSV files, order intents and operator control.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    groups = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for group in groups:
        importlib.import_module(f"trading_pipelines.cli.{group}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trading`` console script; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["control"]:
        from trading_pipelines.cli import control

        # Everything after "control" belongs to the executor's own parser.
        return control.run(args_list[1:])
    parser = _parser(args_list[0] if args_list else None)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return args.run(args)
    except CliError as err:
        print(f"trading {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
