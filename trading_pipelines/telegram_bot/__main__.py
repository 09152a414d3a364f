"""``python -m trading_pipelines.telegram_bot``: the Telegram bot as its own process.

Exit status 0 after SIGTERM/SIGINT, and at once (saying so) when ``TRADING_TELEGRAM_TOKEN``
is not set: the bot is optional. 2 on a configuration error (a malformed token, no
allow-listed chat, a bad ``alerts`` section).
"""

from __future__ import annotations

import logging
import os
import sys

from executor.alerts import TELEGRAM_TOKEN_ENV
from executor.logs import configure_logging
from executor.secrets import SecretError, read_secret

log = logging.getLogger("trading_pipelines.telegram_bot")


def main() -> int:
    try:
        token = read_secret(TELEGRAM_TOKEN_ENV, os.environ)
    except SecretError as exc:
        print(f"telegram bot: error: {exc}", file=sys.stderr)
        return 2
    if token is None:
        print(
            f"telegram bot: not configured ({TELEGRAM_TOKEN_ENV} is not set); nothing to run",
            file=sys.stderr,
        )
        return 0
    configure_logging(os.environ.get("TRADING_LOG_LEVEL", "INFO"), secrets=[token])
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per long poll otherwise
    from executor.ledger import Ledger
    from trading_core.config import ConfigError, get_config, get_paths
    from trading_pipelines.telegram_bot.app import run

    try:
        config = get_config()
        if not config.alerts.telegram_chat_ids:
            raise ConfigError(
                "alerts.telegram_chat_ids (env TRADING_TELEGRAM_CHAT_IDS) is empty: the bot "
                "would answer nobody; allowed: comma-separated chat ids"
            )
        ledger = Ledger(get_paths().ledger_url())
    except (ConfigError, OSError) as exc:
        print(f"telegram bot: error: {exc}", file=sys.stderr)
        return 2
    log.info(
        "telegram bot polling",
        extra={
            "chats": len(config.alerts.telegram_chat_ids),
            "api": config.alerts.telegram_api_url,
        },
    )
    try:
        run(config, token, ledger)
    finally:
        ledger.close()
    log.info("telegram bot stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
