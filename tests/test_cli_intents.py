"""``trading intents submit``: manual trades and other systems' intents into the ledger."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from executor.intents import OrderIntent, make_intent_id
from executor.ledger import Ledger
from trading_core.timeframes import utc_now
from trading_pipelines.cli import main

BUY = {"symbol": "BTC/USDT", "side": "buy", "notional": 50}


@pytest.fixture
def ledger_url(trading_home: Path) -> str:
    return f"sqlite:///{trading_home / 'intents.sqlite'}"


def submit(
    lines: list[str], url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> list[dict[str, Any]]:
    path = tmp_path / "intents.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    assert main(["intents", "submit", str(path), "--ledger-url", url]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def stored(url: str, intent_id: str) -> OrderIntent:
    ledger = Ledger(url)
    try:
        record = ledger.intent(intent_id)
        assert record is not None and record.status == "NEW"
        return record.intent
    finally:
        ledger.close()


def quarantined(url: str) -> list[dict[str, Any]]:
    ledger = Ledger(url)
    try:
        return ledger.quarantined_intents()
    finally:
        ledger.close()


def test_a_manual_buy_gets_the_documented_defaults(
    ledger_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = utc_now()
    (result,) = submit([json.dumps(BUY)], ledger_url, tmp_path, capsys)
    assert result["accepted"] is True and result["line"] == 1, result
    intent = stored(ledger_url, result["intent_id"])
    assert (intent.strategy, intent.exchange, intent.timeframe) == ("manual", "sim", "1m")
    assert (intent.action, intent.side, intent.order_type) == ("open", "buy", "market")
    assert (intent.notional, intent.quantity, intent.reference_price) == (50.0, None, None)
    assert before <= intent.decided_at <= utc_now() and intent.bar_ts == intent.decided_at


def test_a_close_without_quantity_closes_the_whole_position(
    ledger_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = {"symbol": "ETH/USDT", "action": "close", "strategy": "my-desk"}
    (result,) = submit([json.dumps(line)], ledger_url, tmp_path, capsys)
    assert result["accepted"] is True, result
    intent = stored(ledger_url, result["intent_id"])
    assert (intent.side, intent.quantity, intent.strategy) == ("sell", None, "my-desk")


def test_bad_lines_are_reported_quarantined_and_never_stop_the_rest(
    ledger_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        "{not json",
        "",
        '{"symbol": "BTC/USDT", "side": "buy", "notional": NaN, "intent_id": "nan1"}',
        '{"symbol": "BTC/USDT", "side": "buy", "notinal": 50}',
        "[1, 2]",
        '{"symbol": "BTC/USDT", "side": "buy", "notional": 5, "notional": 5000}',
        '{"symbol": "BTC/USDT", "side": "buy", "order_type": "limit", "notional": 5}',
        "   ",
        json.dumps(BUY),
    ]
    results = submit(lines, ledger_url, tmp_path, capsys)
    assert [r["line"] for r in results] == [1, 3, 4, 5, 6, 7, 9]  # blank lines skipped
    assert [r["accepted"] for r in results] == [False] * 6 + [True]
    reasons = [r["reason"] for r in results]
    assert reasons[0].startswith("line 1: not JSON")
    assert reasons[1].startswith("line 3: notional must be a finite number")
    assert results[1]["intent_id"] == "nan1"
    assert reasons[2] == "line 4: unknown field 'notinal' (did you mean 'notional'?)"
    assert reasons[3] == "line 5: not a JSON object: list"
    assert reasons[4] == "line 6: field(s) given twice: notional"
    assert reasons[5] == "line 7: a limit intent needs limit_price"
    kept = sorted(quarantined(ledger_url), key=lambda row: row["id"])
    assert [row["payload"] for row in kept] == [lines[i] for i in (0, 2, 3, 4, 5, 6)]
    assert [row["reason"] for row in kept] == reasons[:6]
    assert kept[1]["intent_id"] == "nan1" and kept[1]["source"] == "cli"


def test_a_duplicate_id_with_other_content_is_refused_an_identical_one_is_not(
    ledger_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = {**BUY, "intent_id": "desk1", "decided_at": "2025-03-03T12:01:00Z"}
    lines = [json.dumps(first), json.dumps(first), json.dumps({**first, "notional": 5000})]
    results = submit(lines, ledger_url, tmp_path, capsys)
    assert [(r["intent_id"], r["accepted"]) for r in results] == [
        ("desk1", True),
        ("desk1", True),
        ("desk1", False),
    ]
    assert results[1]["reason"] == "duplicate of an existing identical intent"
    assert "different content (notional)" in results[2]["reason"]
    assert stored(ledger_url, "desk1").notional == 50.0


def test_ids_come_from_the_content_so_a_repeated_line_is_one_intent(
    ledger_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = {**BUY, "notional": 60}
    results = submit(
        [json.dumps(BUY), json.dumps(BUY), json.dumps(other)], ledger_url, tmp_path, capsys
    )
    assert results[0]["intent_id"] == results[1]["intent_id"] != results[2]["intent_id"]
    assert [r["accepted"] for r in results] == [True, True, True]
    assert results[1]["reason"] == "duplicate of an existing identical intent"


def test_the_code_location_contract_and_utc_offsets(
    ledger_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bar = datetime(2025, 3, 3, 12, 0)
    intent = OrderIntent(
        intent_id=make_intent_id("macd", "sim", "BTC/USDT", "1m", bar, "open"),
        strategy="macd",
        exchange="sim",
        symbol="BTC/USDT",
        timeframe="1m",
        bar_ts=bar,
        decided_at=bar + timedelta(minutes=1),
        side="buy",
        action="open",
        order_type="limit",
        notional=100.0,
        limit_price=59_900.0,
        reference_price=60_000.0,
        stop_loss=58_000.0,
        reasons={"why": "macd cross"},
    )
    row = {**intent.to_row(), "reasons": intent.reasons}
    row |= {"bar_ts": "2025-03-03T14:00:00+02:00", "decided_at": "2025-03-03T12:01:00Z"}
    (result,) = submit([json.dumps(row)], ledger_url, tmp_path, capsys)
    assert (result["intent_id"], result["accepted"]) == (intent.intent_id, True), result
    # an intent naming no instance is filed under the implicit `manual` instance
    assert stored(ledger_url, intent.intent_id) == replace(intent, instance="manual")


def test_stdin_and_the_default_ledger_under_trading_home(
    trading_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = json.dumps({**BUY, "limit_price": 1.5}) + "\n\n" + "oops\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert main(["intents", "submit", "-", "--source", "desk"]) == 0
    good, bad = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert (good["accepted"], bad["accepted"], bad["line"]) == (True, False, 3)
    url = f"sqlite:///{trading_home / 'ledger.sqlite'}"
    assert stored(url, good["intent_id"]).order_type == "limit"  # limit_price given
    assert quarantined(url)[0]["source"] == "desk"


def test_usage_errors_exit_2_without_showing_a_password(
    ledger_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "absent.jsonl"
    assert main(["intents", "submit", str(missing), "--ledger-url", ledger_url]) == 2
    assert f"cannot read {missing}" in capsys.readouterr().err
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(BUY) + "\n")
    for url in ("nonsense", "postgresql+psycopg2://trader:s3cret@127.0.0.1:1/ledger"):
        assert main(["intents", "submit", str(path), "--ledger-url", url]) == 2
        captured = capsys.readouterr()
        assert "cannot open the ledger" in captured.err and captured.out == ""
        assert "s3cret" not in captured.err
    assert main(["intents", "submit", str(path), "--source", "x" * 33]) == 2


def test_the_console_script_reads_stdin(ledger_url: str, trading_home: Path) -> None:
    script = Path(sys.executable).parent / "trading"
    run = subprocess.run(
        [str(script), "intents", "submit", "-", "--ledger-url", ledger_url],
        input=json.dumps(BUY) + "\n" + '{"symbol": "BTC/USDT", "side": "buy"}\n',
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TRADING_HOME": str(trading_home)},
    )
    assert run.returncode == 0, run.stderr
    good, bad = (json.loads(line) for line in run.stdout.splitlines())
    assert good["accepted"] is True
    assert bad == {
        "intent_id": None,
        "accepted": False,
        "reason": "line 2: an opening intent needs notional or quantity",
        "line": 2,
    }
