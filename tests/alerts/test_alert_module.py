"""The one alert module: levels, every channel (file, webhook, Telegram, apprise) through
real clients against local fakes, de-duplication, the rate limit, and failures that never
raise and never leak a secret."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from executor.alert_channels import AppriseChannel, TelegramChannel, WebhookChannel
from executor.alerts import Alerter, remote_channels
from tests.fakes.http_json_server import FakeHTTPServer, Reply
from tests.fakes.telegram_api import FakeTelegramAPI
from trading_core.config_alerts import AlertsConfig

TOKEN = "424242:AAsecretTokenValue_zz9"
HOOK_SECRET = "T000/B000/hooksecretXYZ"


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def hooks() -> FakeHTTPServer:
    with FakeHTTPServer() as server:
        server.route("POST", f"/services/{HOOK_SECRET}", Reply(200, b"ok"))
        server.route("POST", "/apprise", Reply.json({"ok": True}))
        server.route("POST", "/apprise-broken", Reply.json({"error": "down"}, 500))
        yield server


@pytest.fixture
def telegram() -> FakeTelegramAPI:
    with FakeTelegramAPI(TOKEN) as api:
        yield api


def all_channels(hooks: FakeHTTPServer, telegram: FakeTelegramAPI) -> list:
    port = hooks.url.rsplit(":", 1)[1]
    return [
        WebhookChannel(f"{hooks.url}/services/{HOOK_SECRET}"),
        TelegramChannel(telegram.url, TOKEN, [11, -22]),
        AppriseChannel(f"json://127.0.0.1:{port}/apprise"),
    ]


def test_an_alert_reaches_the_file_and_every_channel(
    tmp_path: Path, hooks: FakeHTTPServer, telegram: FakeTelegramAPI
) -> None:
    channels = all_channels(hooks, telegram)
    alerter = Alerter(tmp_path / "alerts.jsonl", settings=AlertsConfig(), channels=channels)
    assert alerter.send("CRITICAL", "exchange", "connection lost") is True
    (record,) = records(tmp_path / "alerts.jsonl")
    assert set(record) == {"at", "severity", "title", "message"}
    assert (record["severity"], record["title"]) == ("critical", "exchange")
    (hook,) = [r for r in hooks.requests if r.path.startswith("/services/")]
    assert json.loads(hook.body) == {"text": "[critical] exchange: connection lost"}
    assert [c.params["chat_id"] for c in telegram.sent()] == [11, -22]
    assert telegram.sent(11)[0].params["text"] == "[critical] exchange: connection lost"
    (apprise_call,) = [r for r in hooks.requests if r.path == "/apprise"]
    payload = json.loads(apprise_call.body)
    assert payload["title"] == "[critical] exchange" and payload["message"] == "connection lost"
    assert [a.ok for a in alerter.last_answers] == [True, True, True]


def test_each_channel_gets_only_the_levels_it_asked_for(
    tmp_path: Path, hooks: FakeHTTPServer, telegram: FakeTelegramAPI
) -> None:
    channels = all_channels(hooks, telegram)  # apprise: WARNING and up by default
    alerter = Alerter(tmp_path / "a.jsonl", settings=AlertsConfig(), channels=channels)
    alerter.send("info", "trade", "bought 0.01 BTC")
    assert len(telegram.sent()) == 2 and not [r for r in hooks.requests if r.path == "/apprise"]
    alerter.send("emergency", "system", "executor crashed")
    assert [r.path for r in hooks.requests if r.path == "/apprise"] == ["/apprise"]


def test_the_same_key_goes_out_once_per_window_and_repeats_are_counted(
    tmp_path: Path, telegram: FakeTelegramAPI
) -> None:
    now = [100.0]
    alerter = Alerter(
        tmp_path / "a.jsonl",
        settings=AlertsConfig(dedup_seconds=60),
        channels=[TelegramChannel(telegram.url, TOKEN, [11])],
        monotonic=lambda: now[0],
    )
    for _ in range(3):
        alerter.send("warning", "latency", "order ack took 2.5 s")
    assert len(telegram.sent(11)) == 1
    assert len(records(tmp_path / "a.jsonl")) == 3  # the file keeps every one
    alerter.send("warning", "latency", "other text, same key", key="latency")
    assert len(telegram.sent(11)) == 2  # a key of its own
    now[0] += 61
    alerter.send("warning", "latency", "order ack took 3.1 s")
    texts = [c.params["text"] for c in telegram.sent(11)]
    assert texts[-1] == (
        "[warning] latency: order ack took 3.1 s (repeated 2 more time(s) since the last one sent)"
    )


def test_the_rate_limit_holds_back_all_but_emergencies(
    tmp_path: Path, telegram: FakeTelegramAPI
) -> None:
    now = [0.0]
    alerter = Alerter(
        tmp_path / "a.jsonl",
        settings=AlertsConfig(max_alerts_per_minute=2),
        channels=[TelegramChannel(telegram.url, TOKEN, [11])],
        monotonic=lambda: now[0],
    )
    for i in range(4):
        alerter.send("critical", f"incident {i}", "x")
    alerter.send("emergency", "system", "the ledger is unreachable")
    texts = [c.params["text"] for c in telegram.sent(11)]
    assert texts == [
        "[critical] incident 0: x",
        "[critical] incident 1: x",
        "[emergency] system: the ledger is unreachable",
    ]
    assert len(records(tmp_path / "a.jsonl")) == 5
    now[0] += 60
    alerter.send("critical", "incident 9", "x")
    assert len(telegram.sent(11)) == 4


@pytest.mark.parametrize("severity", ["fatal", "", "NaN", "42"])
def test_an_unknown_level_is_sent_as_critical_and_logged(
    tmp_path: Path, severity: str, caplog: pytest.LogCaptureFixture
) -> None:
    alerter = Alerter(tmp_path / "a.jsonl", settings=AlertsConfig(), channels=[])
    assert alerter.send(severity, "t", "m") is True
    assert records(tmp_path / "a.jsonl")[0]["severity"] == "critical"
    assert "unknown alert level" in caplog.text


def test_dead_channels_never_raise_and_never_log_a_secret(
    tmp_path: Path, hooks: FakeHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    closed = FakeHTTPServer()
    with closed:
        dead_url = closed.url  # nothing listens here once the block ends
    port = hooks.url.rsplit(":", 1)[1]
    alerter = Alerter(
        tmp_path / "a.jsonl",
        settings=AlertsConfig(apprise_min_level="INFO"),
        channels=[
            TelegramChannel(dead_url, TOKEN, [11]),
            WebhookChannel(f"{dead_url}/services/{HOOK_SECRET}"),
            AppriseChannel(f"json://127.0.0.1:{port}/apprise-broken"),
            AppriseChannel("notaservice://whatever"),
        ],
    )
    caplog.set_level(logging.DEBUG)
    assert alerter.send("critical", "t", "m") is True  # the file took it
    assert [a.ok for a in alerter.last_answers] == [False, False, False, False]
    assert "ConnectionError" in alerter.last_answers[0].detail
    assert alerter.last_answers[3].detail == "apprise does not understand this URL"
    for answer in alerter.last_answers:
        assert TOKEN not in answer.channel + answer.detail
        assert HOOK_SECRET not in answer.channel + answer.detail
    assert TOKEN not in caplog.text and HOOK_SECRET not in caplog.text


def test_a_telegram_refusal_is_answered_per_chat(tmp_path: Path, telegram: FakeTelegramAPI) -> None:
    channel = TelegramChannel(telegram.url, "999:wrongtokenwrong", [11, 12])
    alerter = Alerter(tmp_path / "a.jsonl", settings=AlertsConfig(), channels=[channel])
    alerter.send("warning", "t", "m")
    (answer,) = alerter.last_answers
    assert not answer.ok and answer.detail == "11: Unauthorized; 12: Unauthorized"


def test_channels_come_from_the_environment_and_the_config() -> None:
    settings = AlertsConfig(telegram_chat_ids=[5], telegram_api_url="http://127.0.0.1:1")
    env = {
        "TRADING_ALERT_WEBHOOK": "https://hooks.example.com/services/x",
        "TRADING_TELEGRAM_TOKEN": TOKEN,
        "TRADING_ALERT_APPRISE_URLS": "mailtos://user:pw@example.com, discord://1/abc ,",
    }
    names = [c.name for c in remote_channels(settings, env)]
    assert names == [
        "webhook https://hooks.example.com/…",
        "telegram 127.0.0.1 (1 chat(s))",
        "apprise mailtos://example.com/…",
        "apprise discord://1/…",
    ]
    assert remote_channels(AlertsConfig(), {"TRADING_TELEGRAM_TOKEN": TOKEN}) == []  # no chats
    assert remote_channels(settings, {}) == []


def test_a_malformed_token_turns_telegram_off_naming_the_variable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = AlertsConfig(telegram_chat_ids=[5])
    assert remote_channels(settings, {"TRADING_TELEGRAM_TOKEN": "has space inside"}) == []
    assert "TRADING_TELEGRAM_TOKEN" in caplog.text and "has space inside" not in caplog.text


def test_the_alerter_reads_its_channels_at_send_time(
    trading_home: Path, telegram: FakeTelegramAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    alerter = Alerter.for_home(trading_home)
    monkeypatch.setenv("TRADING_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("TRADING_TELEGRAM_CHAT_IDS", "77")
    monkeypatch.setenv("TRADING_TELEGRAM_API_URL", telegram.url)
    assert alerter.send("critical", "set after start-up (unique title 5b1f)", "m")
    (call,) = telegram.sent(77)
    assert call.params["text"] == "[critical] set after start-up (unique title 5b1f): m"
