"""Every bot command through the real python-telegram-bot against the fake Bot API, answered
within 2 s: reading commands, operator commands behind a confirmation, the allow-list, a
malformed update, and the per-chat rate limit."""

from __future__ import annotations

import time

import pytest

from tests.telegram.conftest import CONFIRM_SECONDS, RATE_LIMIT, BotUnderTest

pytestmark = pytest.mark.integration
ANSWER_WITHIN = 2.0


def ask(bot: BotUnderTest, chat: int, text: str, count: int = 1) -> list[str]:
    """Send ``text`` from ``chat``; the bot's new answers (``count`` of them) within 2 s."""
    before = len(bot.api.sent(chat))
    started = time.monotonic()
    bot.api.command(chat, text)
    calls = bot.api.wait_sent(chat, before + count, timeout=ANSWER_WITHIN + 8)
    answered_in = calls[before + count - 1].at - started
    assert answered_in <= ANSWER_WITHIN, f"{text!r} answered in {answered_in:.2f} s"
    return [str(c.params["text"]) for c in calls[before:]]


def code_of(answer: str) -> str:
    return answer.split("/confirm ")[1].split()[0]


def test_status_reports_state_equity_and_executor(bot: BotUnderTest) -> None:
    (answer,) = ask(bot, 101, "/status")
    assert "State: ACTIVE" in answer
    assert "Equity:" in answer and "USDT" in answer
    assert "no health file" in answer  # no executor runs in this test


def test_positions_balance_profit_and_daily_come_from_the_ledger(bot: BotUnderTest) -> None:
    (positions,) = ask(bot, 102, "/positions")
    assert "BTC/USDT (sim): 0.003 @ 50" in positions and "last 51000" in positions
    (balance,) = ask(bot, 102, "/balance")
    # 500 - 0.004*50000 - 0.2 + 0.001*52000 - 0.052 = 351.748 cash, 0.003 BTC at 51000
    assert "Cash: 351.75 USDT" in balance and "Positions: 153.00 USDT" in balance
    (profit,) = ask(bot, 102, "/profit")
    assert "Equity 504.75 USDT vs start 500.00 USDT: +4.75 USDT (+0.95 %)" in profit
    assert "Realized (after fees): " in profit and "fees paid 0.25 USDT" in profit
    assert "Unrealized: 3.00 USDT" in profit  # (51000 - 50000) * 0.003
    (daily,) = ask(bot, 102, "/daily 3")
    lines = daily.splitlines()
    assert len(lines) == 4  # header + 3 days, newest first
    assert "1 fill(s), bought 0.00, sold 52.00, fees 0.05, net +51.95" in lines[1]
    assert "1 fill(s), bought 200.00, sold 0.00, fees 0.20, net -200.20" in lines[2]
    assert lines[3].endswith("no fills")


@pytest.mark.parametrize("days", ["0", "91", "abc", "-3", "nan", "1e9"])
def test_daily_refuses_bad_day_counts_by_name(bot: BotUnderTest, days: str) -> None:
    (answer,) = ask(bot, 103, f"/daily {days}")
    assert answer.startswith("error: days must be an integer 1..90")


def test_closeall_needs_the_code_and_then_writes_the_ledger_command(bot: BotUnderTest) -> None:
    before = {c.id for c in bot.ledger.commands()}
    (question,) = ask(bot, 104, "/closeall CPI print")
    assert "close-all: confirm within 5 s with /confirm" in question
    buttons = bot.api.sent(104)[-1].params["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in buttons] == ["Confirm", "Cancel"]
    assert {c.id for c in bot.ledger.commands()} == before  # nothing until confirmed
    (wrong,) = ask(bot, 104, "/confirm 000000")
    assert wrong.startswith("error: no pending command with code '000000'")
    (done,) = ask(bot, 104, f"/confirm {code_of(question)}")
    assert "(close-all) recorded" in done
    (new,) = [c for c in bot.ledger.commands() if c.id not in before]
    assert (new.command, new.who, new.why, new.symbol) == (
        "close-all",
        "telegram:104",
        "CPI print",
        None,
    )
    (again,) = ask(bot, 104, f"/confirm {code_of(question)}")
    assert again.startswith("error: no pending command")  # a code works once


def test_a_code_from_another_chat_or_after_expiry_does_nothing(bot: BotUnderTest) -> None:
    before = len(bot.ledger.commands())
    (question,) = ask(bot, 105, "/pause")
    (other,) = ask(bot, 106, f"/confirm {code_of(question)}")
    assert other.startswith("error: no pending command")
    time.sleep(CONFIRM_SECONDS + 0.5)
    (late,) = ask(bot, 105, f"/confirm {code_of(question)}")
    assert "expired" in late
    assert len(bot.ledger.commands()) == before


def test_the_inline_confirm_button_issues_forceexit_for_one_symbol(bot: BotUnderTest) -> None:
    (question,) = ask(bot, 107, "/forceexit btc-usdt stop hit")
    assert question.startswith("force-exit BTC/USDT: confirm")
    code = code_of(question)
    started = time.monotonic()
    bot.api.callback(107, f"confirm:{code}")
    (edit,) = bot.api.wait_sent(107, 1, method="editMessageText")
    assert edit.at - started <= ANSWER_WITHIN
    assert "(force-exit BTC/USDT) recorded" in edit.params["text"]
    assert bot.api.sent(None, "answerCallbackQuery")
    newest = bot.ledger.commands(limit=1)[0]
    assert (newest.command, newest.symbol, newest.why) == ("force-exit", "BTC/USDT", "stop hit")
    assert newest.args["source"] == "telegram"
    # the same again while the first is pending: refused at once, by the ledger's check
    (again,) = ask(bot, 107, "/forceexit BTC/USDT")
    assert again.startswith("error: command") and "is already pending" in again


def test_cancel_button_and_resume(bot: BotUnderTest) -> None:
    before = len(bot.ledger.commands())
    (question,) = ask(bot, 108, "/resume")
    bot.api.callback(108, f"cancel:{code_of(question)}")
    (edit,) = bot.api.wait_sent(108, 1, method="editMessageText")
    assert edit.params["text"] == "canceled"
    (late,) = ask(bot, 108, f"/confirm {code_of(question)}")
    assert late.startswith("error: no pending command")
    assert len(bot.ledger.commands()) == before


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("/forceexit", "usage: /forceexit SYMBOL|all"),
        ("/forceexit BTCUSDT", "must look like BTC/USDT or BTC-USDT"),
        ("/forceexit XRP/USDT", "symbol 'XRP/USDT' is not traded; allowed: ['BTC/USDT'"),
        ("/confirm", "usage: /confirm CODE"),
    ],
)
def test_malformed_operator_commands_are_refused(bot: BotUnderTest, text: str, error: str) -> None:
    before = len(bot.ledger.commands())
    (answer,) = ask(bot, 109, text)
    assert error in answer
    assert len(bot.ledger.commands()) == before


def test_setrisk_asks_then_records_the_override_command(bot: BotUnderTest) -> None:
    (question,) = ask(bot, 113, "/setrisk 0.5 2h CPI week")
    assert question.startswith("set-risk scale=0.5 duration=2h: confirm within 5 s")
    (done,) = ask(bot, 113, f"/confirm {code_of(question)}")
    assert "(set-risk) recorded" in done
    newest = bot.ledger.commands(limit=1)[0]
    assert (newest.command, newest.who, newest.why) == ("set-risk", "telegram:113", "CPI week")
    assert newest.args["scale"] == 0.5 and newest.args["for"] == "2h"
    assert newest.args["source"] == "telegram" and "until" in newest.args
    (percent,) = ask(bot, 113, "/setrisk 0.5%")
    assert percent.startswith("set-risk risk_per_trade=0.005: confirm")


HOSTILE = [
        ("/setrisk", "usage: /setrisk SCALE|N%|clear"),
        ("/setrisk nan", "error: scale must be a finite number"),
        ("/setrisk 1e999", "error: scale must be a finite number"),
        ("/setrisk -1", "error: scale must be > 0"),
        ("/setrisk 3", "above the allowed maximum (overrides.allow_above_tier is false"),
        ("/setrisk half", "'half' is not a number"),
        ("/setrisk 5%", "above tier 1's limit 0.02"),
        ("/setrisk 0.5 0h", "duration must be > 0"),
        ("/setrisk 0.5 9999d", "more than overrides.max_duration_hours"),
        ("/setrisk inf", "error: scale must be a finite number"),
        ("/blacklist DOGE/USDT", "unknown symbol 'DOGE/USDT'; traded: ['BTC/USDT', 'ETH/USDT']"),
        ("/blacklist BTCUSDT", "must look like BTC/USDT or BTC-USDT"),
        ("/unblacklist BTC/USDT", "BTC/USDT is not blacklisted"),
        ("/unblacklist", "usage: /unblacklist SYMBOL"),
]  # fmt: skip


@pytest.mark.parametrize(("chat", "text", "error"),
                         [(120 + i, *case) for i, case in enumerate(HOSTILE)])  # fmt: skip
def test_hostile_setrisk_and_blacklist_are_refused_by_name(
    bot: BotUnderTest, chat: int, text: str, error: str
) -> None:
    before = len(bot.ledger.commands())
    (answer,) = ask(bot, chat, text)  # a chat each: the rate limit stays out of it
    assert error in answer
    assert len(bot.ledger.commands()) == before


def test_blacklist_confirmed_by_button_then_listed_and_lifted(bot: BotUnderTest) -> None:
    (empty,) = ask(bot, 114, "/blacklist")
    assert empty.startswith("Blacklist: empty")
    (question,) = ask(bot, 114, "/blacklist eth-usdt 1d delisting rumor")
    assert question.startswith("blacklist ETH/USDT duration=1d: confirm")
    bot.api.callback(114, f"confirm:{code_of(question)}")
    (edit,) = bot.api.wait_sent(114, 1, method="editMessageText")
    assert "(blacklist ETH/USDT) recorded" in edit.params["text"]
    command = bot.ledger.commands(limit=1)[0]
    assert (command.command, command.symbol, command.why) == (
        "blacklist", "ETH/USDT", "delisting rumor",
    )  # fmt: skip
    apply_as_the_executor(bot, command)
    (listed,) = ask(bot, 114, "/blacklist")
    assert listed.startswith("Blacklist:\nETH/USDT: by telegram:114 (delisting rumor) until ")
    (dup,) = ask(bot, 115, "/blacklist ETH/USDT")  # another chat: six commands a minute
    assert dup.startswith("error: ETH/USDT is already blacklisted")
    (lift,) = ask(bot, 115, "/unblacklist ETH/USDT fine again")
    assert lift.startswith("unblacklist ETH/USDT: confirm")
    (done,) = ask(bot, 115, f"/confirm {code_of(lift)}")
    assert "(unblacklist ETH/USDT) recorded" in done


def apply_as_the_executor(bot: BotUnderTest, command: object) -> None:
    """What the executor's next tick does with the command (no executor runs here)."""
    import yaml

    from executor import override_ledger
    from tests.telegram.conftest import PORTFOLIO
    from trading_core.config import TradingConfig

    config = TradingConfig.model_validate(
        {**yaml.safe_load(PORTFOLIO), "market": {"symbols": ["BTC/USDT", "ETH/USDT"]}}
    )
    outcome = override_ledger.apply_command(bot.ledger, config, command, None)  # type: ignore[arg-type]
    assert outcome.applied, outcome.result
    bot.ledger.mark_command_applied(command.id, outcome.result)  # type: ignore[attr-defined]


def test_help_and_unknown_input(bot: BotUnderTest) -> None:
    (answer,) = ask(bot, 110, "/help")
    assert "/status" in answer and "/forceexit" in answer
    assert "/setrisk SCALE|N%|clear" in answer and "/blacklist SYMBOL" in answer
    (unknown,) = ask(bot, 110, "hello bot")
    assert unknown.startswith("unknown command.")


def test_a_chat_that_is_not_allowed_gets_nothing_and_is_audited(bot: BotUnderTest) -> None:
    before = len(bot.ledger.commands())
    answered_before = len(bot.api.sent(None, "answerCallbackQuery"))
    for text in ("/status", "/closeall", "/confirm 123456"):
        bot.api.command(999, text, user_id=4242)
    bot.api.callback(999, "confirm:123456")
    ask(bot, 111, "/help")  # an allowed chat's answer: the bot has polled everything before it

    def denied() -> list[dict]:
        entries = bot.ledger.audit_entries("telegram_denied")
        return [e for e in entries if e["actor"] == "telegram:999"]

    deadline = time.monotonic() + 5
    while len(denied()) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # an answer, were one coming, would be out by now
    assert bot.api.sent(999) == [] and bot.api.sent(999, "editMessageText") == []
    assert len(bot.api.sent(None, "answerCallbackQuery")) == answered_before
    assert len(denied()) == 4
    assert {e["subject"] for e in denied()} >= {"/status", "/closeall"}
    assert len(bot.ledger.commands()) == before


def test_a_malformed_update_is_skipped_and_the_bot_keeps_answering(bot: BotUnderTest) -> None:
    bot.api.push({"message": {"text": "/status"}})  # no chat, no date, no message_id
    bot.api.push({"edited_channel_post": "not an object"})
    bot.api.push({"unknown_kind": {"x": 1}})
    (answer,) = ask(bot, 112, "/status")
    assert answer.startswith("State:")
    assert bot.process.poll() is None


def test_a_chat_over_its_rate_limit_is_told_once_a_message(bot: BotUnderTest) -> None:
    chat = -1001  # a group chat (negative id) on the allow-list
    answers = [ask(bot, chat, "/balance")[0] for _ in range(RATE_LIMIT)]
    assert all(a.startswith("Cash:") for a in answers)
    (limited,) = ask(bot, chat, "/balance")
    assert limited.startswith(f"rate limit: {RATE_LIMIT} commands per minute")
    (question,) = ask(bot, chat, "/closeall")
    assert question.startswith("rate limit")  # destructive commands are limited too
