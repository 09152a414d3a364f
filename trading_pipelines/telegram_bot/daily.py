"""The daily summary pushed to every allow-listed chat at ``alerts.daily_summary_utc``."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from telegram.ext import Application

from executor.control import status
from trading_core.timeframes import utc_now
from trading_pipelines.telegram_bot import views
from trading_pipelines.telegram_bot.handlers import Bot

log = logging.getLogger("trading_pipelines.telegram_bot")


def next_summary(now: datetime, hh_mm: str) -> datetime:
    """The first ``hh_mm`` (UTC) strictly after ``now`` (naive UTC)."""
    hour, minute = (int(part) for part in hh_mm.split(":"))
    at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)


def summary_text(bot: Bot) -> str:
    """Yesterday's and today's fills, the state and the money: one message."""
    return "\n\n".join(
        [
            "Daily summary",
            views.status_text(status(bot.ledger), utc_now()),
            bot.answer("profit", []),
            bot.daily(["2"]),
        ]
    )


async def push_summaries(app: Application[Any, Any, Any, Any, Any, Any], bot: Bot) -> None:
    """Forever: sleep until the next summary time, send it to each allowed chat."""
    hh_mm = bot.config.alerts.daily_summary_utc
    if hh_mm is None:
        return
    while True:
        wait = (next_summary(utc_now(), hh_mm) - utc_now()).total_seconds()
        await asyncio.sleep(max(wait, 0.0))
        try:
            text = await asyncio.to_thread(summary_text, bot)
            for chat_id in sorted(bot.allowed):
                await app.bot.send_message(chat_id, text)
        except Exception:  # the next day's summary must still come
            log.exception("daily summary failed")
        await asyncio.sleep(1.0)
