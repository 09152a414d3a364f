"""The bot's commands, on python-telegram-bot's ``Application``.

Reading commands (``/status /profit /daily /balance /positions``, ``/blacklist`` without a
symbol) answer from the ledger through ``executor.control.status`` and the ledger's own
queries. Operator commands (``/pause /resume /closeall /forceexit /setrisk /blacklist
/unblacklist``) become the same ledger command rows that ``trading control`` writes, checked
the same way (``executor.override_ledger``: an unknown symbol, a NaN or too large scale, a
duplicate is answered with the error at once), after a confirmation (the inline button, or
``/confirm CODE`` within ``alerts.confirm_seconds``); checked again when confirmed.

Before any handler, a gate drops updates from chats that are not allow-listed (audited in
the ledger and logged, never answered) and rate-limits the allowed chats.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from executor import override_ledger
from executor.control import _normalize_symbol, status
from executor.ledger import Ledger
from executor.ledger.controls import OVERRIDE_COMMANDS
from executor.overrides import OverrideError
from trading_core.config import TradingConfig
from trading_core.timeframes import utc_now
from trading_pipelines.telegram_bot import views
from trading_pipelines.telegram_bot.guard import Confirmations, Pending, RateLimiter

log = logging.getLogger("trading_pipelines.telegram_bot")

READING = ("status", "profit", "daily", "balance", "positions")
OPERATOR = {
    "pause": "pause", "resume": "resume", "closeall": "close-all", "forceexit": None,
    "setrisk": "set-risk", "blacklist": "blacklist", "unblacklist": "unblacklist",
}  # fmt: skip
HELP = (
    "Commands: /status /profit /daily [days] /balance /positions /blacklist | /pause [why] "
    "/resume [why] /closeall [why] /forceexit SYMBOL|all [why] /setrisk SCALE|N%|clear "
    "[30m|2h|1d] [why] /blacklist SYMBOL [2h] [why] /unblacklist SYMBOL [why] (these ask for "
    "/confirm CODE)"
)
USAGE = {
    "setrisk": "usage: /setrisk SCALE|N%|clear [DURATION] [why], e.g. /setrisk 0.5 2h CPI "
    "(half the tier's risk per trade for two hours) or /setrisk 0.5% (risk per trade)",
    "blacklist": "usage: /blacklist SYMBOL [DURATION] [why], e.g. /blacklist DOGE/USDT 1d",
    "unblacklist": "usage: /unblacklist SYMBOL [why]",
}
MAX_DAILY_DAYS = 90
DURATION_WORD = re.compile(r"^\d+(\.\d+)?[mhd]$")
APPLIED_WAIT_SECONDS = 30.0


class UserError(ValueError):
    """A malformed command: answered with the message, nothing done."""


class Bot:
    """The state behind the handlers: configuration, ledger, allow-list and guards."""

    def __init__(self, config: TradingConfig, ledger: Ledger):
        self.config = config
        self.ledger = ledger
        self.allowed = frozenset(config.alerts.telegram_chat_ids)
        self.limiter = RateLimiter(config.alerts.commands_per_minute)
        self.denied_audits = RateLimiter(5)  # a hostile flood must not fill the audit log
        self.confirmations = Confirmations(config.alerts.confirm_seconds)
        self.quote = config.executor.quote_currency
        self.application: Application[Any, Any, Any, Any, Any, Any] | None = None

    # ------------------------------------------------------------------ gate

    async def gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            log.warning("update without a chat ignored", extra={"update_id": update.update_id})
            raise ApplicationHandlerStop
        if chat.id not in self.allowed:
            await self._deny(update, chat.id)
            raise ApplicationHandlerStop
        allowed, retry_in = self.limiter.allow(chat.id)
        if not allowed:
            log.warning("telegram command rate-limited", extra={"chat_id": chat.id})
            if update.callback_query is not None:
                await update.callback_query.answer("rate limited")
            elif update.effective_message is not None:
                await update.effective_message.reply_text(
                    f"rate limit: {self.limiter.limit} commands per minute; try again in "
                    f"{retry_in:.0f} s"
                )
            raise ApplicationHandlerStop

    async def _deny(self, update: Update, chat_id: int) -> None:
        message = update.effective_message
        text = (message.text or "")[:50] if message is not None else ""
        user = update.effective_user
        log.warning(
            "telegram update from a chat that is not allowed",
            extra={"chat_id": chat_id, "user_id": user.id if user else None},
        )
        if self.denied_audits.allow(chat_id)[0]:
            await asyncio.to_thread(
                self.ledger.audit,
                f"telegram:{chat_id}",
                "telegram_denied",
                text or None,
                {"chat_id": chat_id, "user_id": user.id if user else None},
            )

    # ------------------------------------------------------------------ reading

    async def read(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None and message.text is not None
        name = message.text.split()[0].lstrip("/").split("@")[0].lower()
        try:
            text = await asyncio.to_thread(self.answer, name, list(context.args or []))
        except UserError as exc:
            text = f"error: {exc}"
        await message.reply_text(text)

    def answer(self, name: str, args: list[str]) -> str:
        """The text of a reading command (a UserError for bad arguments)."""
        if name == "status":
            return views.status_text(status(self.ledger), utc_now())
        account = self.ledger.account(self.quote)
        if name == "balance":
            return views.balance_text(vars(account))
        if name == "positions":
            return views.positions_text(self.ledger.open_positions(), self.quote)
        if name == "profit":
            return views.profit_text(
                self.ledger.positions(),
                account.equity,
                self.config.executor.starting_cash,
                self.quote,
            )
        return self.daily(args)

    def daily(self, args: list[str]) -> str:
        days = _days(args)
        last = utc_now().date()
        first = last - timedelta(days=days - 1)
        since = utc_now().replace(hour=0, minute=0, second=0, microsecond=0)
        fills = self.ledger.fills_since(since - timedelta(days=days - 1))
        return views.daily_text(views.daily_rows(fills, self.quote), first, last, self.quote)

    # ------------------------------------------------------------------ operator

    async def operator(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and message.text is not None and chat is not None
        name = message.text.split()[0].lstrip("/").split("@")[0].lower()
        args = list(context.args or [])
        if name == "blacklist" and not args:
            await message.reply_text(await asyncio.to_thread(self.blacklist_text))
            return
        user = update.effective_user
        who = f"telegram:{user.id if user else chat.id}"
        try:
            command, symbol, why, params = self._operator_command(name, args)
            if command in OVERRIDE_COMMANDS:  # the executor's checks, answered now
                symbol, _ = await asyncio.to_thread(
                    override_ledger.prepare, self.ledger, self.config, command, who=who,
                    why=why, symbol=symbol, source="telegram", **params,
                )  # fmt: skip
        except (UserError, OverrideError) as exc:
            await message.reply_text(f"error: {exc}")
            return
        pending = self.confirmations.ask(chat.id, command, symbol, why, who, params)
        buttons = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton("Confirm", callback_data=f"confirm:{pending.code}"),
                    InlineKeyboardButton("Cancel", callback_data=f"cancel:{pending.code}"),
                ]
            ]
        )
        what = " ".join(
            [command, *([symbol] if symbol else []),
             *(f"{k}={v}" for k, v in params.items() if v not in (None, False))]
        )  # fmt: skip
        await message.reply_text(
            f"{what}: confirm within {self.confirmations.ttl:g} s with /confirm "
            f"{pending.code} (or the button)",
            reply_markup=buttons,
        )

    def _operator_command(
        self, name: str, args: list[str]
    ) -> tuple[str, str | None, str, dict[str, Any]]:
        """(ledger command, symbol, why, the override's arguments) of a bot command."""
        if name in USAGE:
            return _override_command(name, args)
        if name != "forceexit":
            return OPERATOR[name] or name, None, " ".join(args) or "via Telegram", {}
        if not args:
            raise UserError("usage: /forceexit SYMBOL|all [why], e.g. /forceexit BTC/USDT")
        why = " ".join(args[1:]) or "via Telegram"
        if args[0].lower() == "all":
            return "close-all", None, why, {}
        try:
            symbol = _normalize_symbol(args[0].upper())
        except ValueError as exc:
            raise UserError(str(exc)) from None
        traded = self.config.market.symbols
        if symbol not in traded:
            raise UserError(f"symbol {symbol!r} is not traded; allowed: {traded}")
        return "force-exit", symbol, why, {}

    def blacklist_text(self) -> str:
        try:
            listed = override_ledger.load(self.ledger).active(self.ledger.now()).blacklist
        except OverrideError as exc:
            return f"error: {exc}"
        if not listed:
            return "Blacklist: empty. Add one with /blacklist SYMBOL [DURATION] [why]."
        lines = [
            f"{symbol}: by {hold.by} ({hold.why})"
            + (f" until {hold.until.isoformat(timespec='minutes')}Z" if hold.until else "")
            for symbol, hold in sorted(listed.items())
        ]
        return "Blacklist:\n" + "\n".join(lines)

    async def confirm(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        if len(context.args or []) != 1:
            await message.reply_text("usage: /confirm CODE (the code the command answered)")
            return
        await message.reply_text(await self._confirmed(chat.id, (context.args or [""])[0]))

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query, chat = update.callback_query, update.effective_chat
        assert query is not None and chat is not None
        action, _, code = (query.data or "").partition(":")
        if action == "cancel":
            done = self.confirmations.cancel(chat.id, code)
            await query.answer("canceled" if done else "nothing to cancel")
            await query.edit_message_text("canceled" if done else "nothing pending")
            return
        if action != "confirm":
            await query.answer("unknown button")
            return
        text = await self._confirmed(chat.id, code)
        await query.answer()
        await query.edit_message_text(text)

    async def _confirmed(self, chat_id: int, code: str) -> str:
        pending = self.confirmations.take(chat_id, code)
        if isinstance(pending, str):
            return f"error: {pending}"
        try:
            command_id = await asyncio.to_thread(self._issue, pending)
        except (OverrideError, ValueError) as exc:  # checked again: things moved meanwhile
            return f"error: {exc}; nothing recorded"
        asyncio.get_running_loop().create_task(self._report_applied(chat_id, command_id))
        return (
            f"command {command_id} ({pending.command}"
            + (f" {pending.symbol}" if pending.symbol else "")
            + ") recorded; the executor applies it on its next tick"
        )

    def _issue(self, pending: Pending) -> int:
        if pending.command in OVERRIDE_COMMANDS:
            return override_ledger.issue(
                self.ledger, self.config, pending.command, who=pending.who, why=pending.why,
                symbol=pending.symbol, source="telegram", **pending.params,
            )  # fmt: skip
        return self.ledger.add_command(pending.command, pending.who, pending.why, pending.symbol)

    async def _report_applied(self, chat_id: int, command_id: int) -> None:
        app: Application[Any, Any, Any, Any, Any, Any] | None = self.application
        deadline = asyncio.get_running_loop().time() + APPLIED_WAIT_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            commands = await asyncio.to_thread(self.ledger.commands, limit=50)
            done = next((c for c in commands if c.id == command_id and c.applied_at), None)
            if done is not None and app is not None:
                await app.bot.send_message(chat_id, f"command {command_id} applied: {done.result}")
                return
            await asyncio.sleep(0.5)
        if app is not None:
            await app.bot.send_message(
                chat_id,
                f"command {command_id} not applied within {APPLIED_WAIT_SECONDS:g} s "
                "(is the executor running?); it stays pending",
            )

    # ------------------------------------------------------------------ the rest

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(HELP)

    async def unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"unknown command. {HELP}")

    async def error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram handler failed", exc_info=context.error)
        if isinstance(update, Update) and update.effective_message is not None:
            await update.effective_message.reply_text(
                f"error: {type(context.error).__name__}: {str(context.error)[:200]}"
            )


def _override_command(name: str, args: list[str]) -> tuple[str, str | None, str, dict[str, Any]]:
    """``/setrisk``, ``/blacklist``, ``/unblacklist``: the first word (the scale or the
    symbol), then a duration if the next word is one, then the reason."""
    if not args:
        raise UserError(USAGE[name])
    first, rest = args[0], args[1:]
    params: dict[str, Any] = {}
    duration = None
    if name != "unblacklist" and rest and _is_duration(rest[0]):
        duration, rest = rest[0], rest[1:]
    why = " ".join(rest) or "via Telegram"
    if name == "setrisk":
        if first.lower() == "clear":
            params["clear"] = True
        elif first.endswith("%"):
            params["risk_per_trade"] = _number(first[:-1], name) / 100
        else:
            params["scale"] = _number(first.lstrip("x"), name)
    if duration is not None:
        params["duration"] = duration
    if name == "setrisk":
        return "set-risk", None, why, params
    return name, first, why, params


def _is_duration(word: str) -> bool:
    """Looks like one (30m, 2h, 1.5d): a bad one (0h) is then refused by name."""
    return DURATION_WORD.match(word.lower()) is not None


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UserError(f"{text!r} is not a number. {USAGE[name]}") from None


def _days(args: list[str]) -> int:
    if not args:
        return 7
    try:
        days = int(args[0])
    except ValueError:
        raise UserError(f"days must be an integer 1..{MAX_DAILY_DAYS} (got {args[0]!r})") from None
    if not 1 <= days <= MAX_DAILY_DAYS:
        raise UserError(f"days must be an integer 1..{MAX_DAILY_DAYS} (got {days})")
    return days


def register(application: Application[Any, Any, Any, Any, Any, Any], bot: Bot) -> None:
    bot.application = application
    application.add_handler(TypeHandler(Update, bot.gate), group=-1)
    application.add_handler(CommandHandler(list(READING), bot.read))
    application.add_handler(CommandHandler(list(OPERATOR), bot.operator))
    application.add_handler(CommandHandler("confirm", bot.confirm))
    application.add_handler(CommandHandler(["help", "start"], bot.help))
    application.add_handler(CallbackQueryHandler(bot.button))
    application.add_handler(MessageHandler(filters.ALL, bot.unknown))
    application.add_error_handler(bot.error)
