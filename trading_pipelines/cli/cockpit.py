"""``trading cockpit [--host H] [--port P]``: serve the web cockpit and ``/api/v1`` for the
TRADING_HOME of the environment (loopback, port 8088 by default)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("cockpit", help="serve the web cockpit and its JSON API")
    from trading_pipelines.cockpit.serve import add_arguments

    add_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from trading_pipelines.cockpit.serve import serve

    return serve(args.host, args.port)
