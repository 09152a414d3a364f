"""Serve the cockpit with uvicorn: ``python -m trading_pipelines.cockpit [--host H] [--port P]``
(what ``make run`` supervises) and ``trading cockpit`` (the same, for a TRADING_HOME)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the configuration only when serving: ``trading --help`` registers this
    from trading_core.config import TradingConfig

EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default=None, help="bind address (default: cockpit.host, 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=None, help="port (default: cockpit.port, 8088)")


def configured(config: TradingConfig, host: str | None, port: int | None) -> TradingConfig:
    """``config`` with the command line's host and port, validated like the file's."""
    from pydantic import ValidationError

    from trading_core.config import ConfigError
    from trading_core.config_cockpit import CockpitConfig

    values = config.cockpit.model_dump()
    values.update({k: v for k, v in (("host", host), ("port", port)) if v is not None})
    try:
        cockpit = CockpitConfig.model_validate(values)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"]) or "cockpit"
        raise ConfigError(
            f"cockpit.{field}: {problem['msg'].removeprefix('Value error, ')}"
        ) from None
    return config.model_copy(update={"cockpit": cockpit})


def serve(host: str | None = None, port: int | None = None) -> int:
    import uvicorn

    from trading_core.config import ConfigError, get_config, get_paths
    from trading_pipelines.cockpit.app import create_app
    from trading_pipelines.cockpit.security import SecretError

    try:
        config = configured(get_config(), host, port)
        app = create_app(get_paths(), config)
    except (ConfigError, SecretError) as exc:
        print(f"trading cockpit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    print(
        f"trading cockpit: http://{config.cockpit.host}:{config.cockpit.port}/ "
        f"(API: /api/v1, docs: /api/docs) for {get_paths().home}",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        app,
        host=config.cockpit.host,
        port=config.cockpit.port,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trading_pipelines.cockpit")
    add_arguments(parser)
    args = parser.parse_args(argv)
    return serve(args.host, args.port)
