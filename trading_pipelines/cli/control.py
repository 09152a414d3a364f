"""``trading control ...``: operator commands for the executor (pause, resume, halt,
close-all, close-position, status), delegated untouched to ``executor.control.main``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Lists ``control`` in ``trading --help``; ``main`` hands everything after it to ``run``
    before parsing, so this parser never parses."""
    sub.add_parser(
        "control",
        help="operator commands for the executor (pause, resume, halt, close-all, status, ...)",
        add_help=False,
    )


def run(argv: list[str]) -> int:
    from executor import control

    return control.main(argv)
