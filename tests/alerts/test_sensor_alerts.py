"""Dagster's executor-health sensor alerts through the same module: its levels reach the
file and Telegram, once per incident."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from sensors.alerts import build_executor_health_sensor
from tests.fakes.telegram_api import FakeTelegramAPI
from trading_pipelines.resources.alerts import AlertResource

TOKEN = "6060:AAsensorAlertToken"


def test_a_dead_executor_is_an_emergency_sent_once(
    trading_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    health = trading_home / "executor" / "health.json"
    health.parent.mkdir()
    health.write_text(json.dumps({"heartbeat": "2020-01-01T00:00:00", "trading_state": "ACTIVE"}))
    with FakeTelegramAPI(TOKEN) as telegram:
        monkeypatch.setenv("TRADING_TELEGRAM_TOKEN", TOKEN)
        monkeypatch.setenv("TRADING_TELEGRAM_CHAT_IDS", "51")
        monkeypatch.setenv("TRADING_TELEGRAM_API_URL", telegram.url)
        sensor = build_executor_health_sensor(health)
        alerts = AlertResource(path=str(trading_home / "alerts.jsonl"))
        cursor = None
        for _ in range(2):
            context = dg.build_sensor_context(cursor=cursor, resources={"alerts": alerts})
            sensor(context)
            cursor = context.cursor
        (call,) = telegram.sent(51)
        assert call.params["text"].startswith("[emergency] executor: executor heartbeat is ")
    lines = (trading_home / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(x)["severity"] for x in lines] == ["emergency"]
