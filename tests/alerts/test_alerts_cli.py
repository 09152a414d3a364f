"""``trading alerts test [--level L]`` sends to every configured channel and prints what
each answered; the exit status says whether all took it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.http_json_server import FakeHTTPServer, Reply
from tests.fakes.telegram_api import FakeTelegramAPI
from trading_pipelines.cli import main

TOKEN = "5150:AAcliTokenForTheTest"


@pytest.fixture
def configured(trading_home: Path, monkeypatch: pytest.MonkeyPatch):
    with FakeTelegramAPI(TOKEN) as telegram, FakeHTTPServer() as hooks:
        hooks.route("POST", "/hook", Reply(200, b"ok"))
        hooks.route("POST", "/apprise", Reply.json({}))
        port = hooks.url.rsplit(":", 1)[1]
        monkeypatch.setenv("TRADING_TELEGRAM_TOKEN", TOKEN)
        monkeypatch.setenv("TRADING_TELEGRAM_CHAT_IDS", "31,32")
        monkeypatch.setenv("TRADING_TELEGRAM_API_URL", telegram.url)
        monkeypatch.setenv("TRADING_ALERT_WEBHOOK", f"{hooks.url}/hook")
        monkeypatch.setenv("TRADING_ALERT_APPRISE_URLS", f"json://127.0.0.1:{port}/apprise")
        yield trading_home, telegram, hooks


def test_every_channel_answers(configured, capsys: pytest.CaptureFixture) -> None:
    home, telegram, _ = configured
    assert main(["alerts", "test", "--level", "critical"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"file {home / 'alerts.jsonl'}: ok (appended)"
    assert lines[1] == "webhook http://127.0.0.1/…: ok (HTTP 200)"
    assert lines[2] == "telegram 127.0.0.1 (2 chat(s)): ok (31: ok; 32: ok)"
    assert lines[3] == "apprise json://127.0.0.1/…: ok (sent)"
    assert [c.params["chat_id"] for c in telegram.sent()] == [31, 32]
    assert "[critical] test alert" in telegram.sent(31)[0].params["text"]
    (record,) = [json.loads(x) for x in (home / "alerts.jsonl").read_text().splitlines()]
    assert record["severity"] == "critical" and record["title"] == "test alert"
    assert TOKEN not in "\n".join(lines)


def test_a_level_below_a_channels_minimum_is_skipped(configured, capsys) -> None:
    _, _, hooks = configured
    assert main(["alerts", "test"]) == 0  # INFO; apprise wants WARNING and up
    out = capsys.readouterr().out
    assert "apprise json://127.0.0.1/…: skipped (below its minimum level WARNING)" in out
    assert not [r for r in hooks.requests if r.path == "/apprise"]


def test_a_refusing_channel_fails_the_command(configured, capsys, monkeypatch) -> None:
    monkeypatch.setenv("TRADING_TELEGRAM_TOKEN", "5150:AAnotTheRightToken")
    assert main(["alerts", "test", "--level", "WARNING"]) == 1
    out = capsys.readouterr().out
    assert "telegram 127.0.0.1 (2 chat(s)): FAILED (31: Unauthorized; 32: Unauthorized)" in out
    assert "webhook http://127.0.0.1/…: ok (HTTP 200)" in out


def test_no_channel_configured_says_so(trading_home: Path, capsys) -> None:
    assert main(["alerts", "test"]) == 0
    assert "no remote channel configured" in capsys.readouterr().out


@pytest.mark.parametrize("level", ["fatal", "", "3"])
def test_a_bad_level_is_a_usage_error(trading_home: Path, level: str, capsys) -> None:
    assert main(["alerts", "test", "--level", level]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_a_bad_alerts_config_is_one_line_naming_the_variable(
    trading_home: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("TRADING_TELEGRAM_CHAT_IDS", "12,12")
    assert main(["alerts", "test"]) == 2
    err = capsys.readouterr().err
    assert "TRADING_TELEGRAM_CHAT_IDS" in err and "duplicate chat ids [12]" in err
