"""Build the bot's ``Application`` and run it (long polling) until SIGTERM/SIGINT.

python-telegram-bot parses a ``getUpdates`` answer as a whole: one update it cannot parse
fails the batch, and the poller asks for the same batch again, for ever. ``LenientBot``
turns such an update into an empty one with the same ``update_id`` (logged), so it is
confirmed and skipped and the updates after it are answered.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ExtBot
from telegram.request import HTTPXRequest

from executor.ledger import Ledger
from trading_core.config import TradingConfig
from trading_pipelines.telegram_bot.daily import push_summaries
from trading_pipelines.telegram_bot.handlers import Bot, register

POLL_TIMEOUT_SECONDS = 10

log = logging.getLogger("trading_pipelines.telegram_bot")


class LenientBot(ExtBot[None]):
    async def _post(self, endpoint: str, data: Any = None, *args: Any, **kwargs: Any) -> Any:
        result = await super()._post(endpoint, data, *args, **kwargs)
        if endpoint == "getUpdates" and isinstance(result, list):
            return [kept for kept in (self._parsable(item) for item in result) if kept]
        return result

    def _parsable(self, item: Any) -> dict[str, Any] | None:
        update_id = item.get("update_id") if isinstance(item, dict) else None
        if not isinstance(update_id, int):
            log.warning("an update without an update_id dropped", extra={"item": str(item)[:200]})
            return None
        try:
            Update.de_json(dict(item), self)
        except Exception as exc:
            log.warning(
                "a malformed update skipped",
                extra={"update_id": update_id, "error": f"{type(exc).__name__}: {exc}"[:200]},
            )
            return {"update_id": update_id}
        return dict(item)


def build_application(
    config: TradingConfig, token: str, ledger: Ledger
) -> tuple[Application[Any, Any, Any, Any, Any, Any], Bot]:
    """The application against ``alerts.telegram_api_url`` (Telegram's, or a local fake)."""
    api = config.alerts.telegram_api_url
    bot = Bot(config, ledger)
    tasks: list[asyncio.Task[None]] = []

    async def post_init(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        tasks.append(asyncio.get_running_loop().create_task(push_summaries(app, bot)))

    async def post_shutdown(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        for task in tasks:
            task.cancel()

    telegram_bot = LenientBot(
        token,
        base_url=f"{api}/bot",
        base_file_url=f"{api}/file/bot",
        request=HTTPXRequest(connection_pool_size=8),
        get_updates_request=HTTPXRequest(read_timeout=POLL_TIMEOUT_SECONDS + 5),
    )
    application = (
        ApplicationBuilder()
        .bot(telegram_bot)
        .concurrent_updates(True)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    register(application, bot)
    return application, bot


def run(config: TradingConfig, token: str, ledger: Ledger) -> None:
    application, _ = build_application(config, token, ledger)
    application.run_polling(
        allowed_updates=Update.ALL_TYPES,
        poll_interval=0.0,
        timeout=POLL_TIMEOUT_SECONDS,
        bootstrap_retries=-1,
        close_loop=True,
    )
