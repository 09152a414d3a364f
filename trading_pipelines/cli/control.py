"""``trading control ...``: operator commands for the executor (pause, resume, halt,
close-all, close-position, review, status) and the operator overrides (set-risk, blacklist,
unblacklist, force-exit, pause-instance, resume-instance), delegated untouched to
``executor.control.main``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Lists ``control`` in ``trading --help``; ``main`` hands everything after it to ``run``
    before parsing, so this parser never parses."""
    sub.add_parser(
        "control",
        help="operator commands for the executor (pause, resume, halt, close-all, set-risk, "
        "blacklist, force-exit, pause-instance, review, status, ...)",
        add_help=False,
    )


def run(argv: list[str]) -> int:
    from executor import control

    return control.main(argv)
