"""The daily summary: built from the ledger and pushed by the real library to every
allow-listed chat at its time."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from executor.ledger import Ledger
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram.conftest import TOKEN, seed_ledger
from trading_core.config import load_config
from trading_core.timeframes import utc_now
from trading_pipelines.telegram_bot import daily
from trading_pipelines.telegram_bot.app import build_application


def test_the_summary_is_pushed_to_every_allowed_chat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    seed_ledger(ledger)
    with FakeTelegramAPI(TOKEN) as api:
        config = load_config(
            environ={
                "TRADING_HOME": str(tmp_path),
                "TRADING_TELEGRAM_CHAT_IDS": "21,-22",
                "TRADING_TELEGRAM_API_URL": api.url,
            }
        )
        # The summary is due 0.3 s from now instead of at 00:05 UTC.
        monkeypatch.setattr(
            daily, "next_summary", lambda now, hh_mm: utc_now() + timedelta(seconds=0.3)
        )

        async def scenario() -> None:
            app, bot = build_application(config, TOKEN, ledger)
            async with app:
                task = asyncio.create_task(daily.push_summaries(app, bot))
                for _ in range(100):
                    if api.sent(21) and api.sent(-22):
                        break
                    await asyncio.sleep(0.05)
                task.cancel()

        asyncio.run(scenario())
        (first,) = api.sent(21)[:1]
        text = first.params["text"]
        assert text.startswith("Daily summary")
        assert "State: ACTIVE" in text and "Equity 504.75 USDT vs start 500.00 USDT" in text
        assert "1 fill(s), bought 0.00, sold 52.00" in text
        assert api.sent(-22)[0].params["text"] == text
    ledger.close()


def test_no_summary_time_pushes_nothing(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    with FakeTelegramAPI(TOKEN) as api:
        file = tmp_path / "t.yaml"
        file.write_text("alerts:\n  daily_summary_utc: null\n  telegram_chat_ids: [21]\n")
        config = load_config(file, environ={"TRADING_HOME": str(tmp_path)})
        app, bot = build_application(config, TOKEN, ledger)
        asyncio.run(asyncio.wait_for(daily.push_summaries(app, bot), timeout=2))
        assert api.sent() == []
    ledger.close()
