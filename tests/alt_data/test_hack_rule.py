"""The hack/exploit rule: a hack news item about a held asset alerts, or sends force-exit
to the executor as an operator command (the news_hack_rule asset, materialized for real
against a DuckDB warehouse and the SQLite ledger, applied by a paper executor tick)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from assets.hack_rule import news_hack_rule
from tests.overrides.conftest import Desk, portfolio, write_config
from trading_core.hack_rule import apply_hack_rule, hack_hits
from trading_core.timeframes import utc_now
from trading_core.warehouse import ensure_schema, replace_slice, table_columns
from trading_pipelines.resources.alerts import AlertResource
from trading_pipelines.resources.ledger import LedgerResource

HACK = ("Hackers drain $40M from a Bitcoin bridge in an exploit", "BTC stolen", "BTC")


def _news(path: Path, rows: list[tuple[str, str, str, str | None, float]]) -> None:
    now = utc_now()
    records = [
        {"item_id": i, "title": t, "summary": s, "symbols": sym, "source": "feedparser",
         "published_at": now - timedelta(hours=h), "ingested_at": now}
        for i, t, s, sym, h in rows
    ]  # fmt: skip
    frame = pd.DataFrame(records).reindex(columns=table_columns("raw.news_items"))
    with duckdb.connect(str(path)) as conn:
        ensure_schema(conn)
        replace_slice(conn, "raw.news_items", frame, "true")


@pytest.fixture
def desk_with(trading_home: Path) -> Iterator[object]:
    desks: list[Desk] = []

    def make(rule: str) -> Desk:
        write_config(trading_home, {**portfolio(), "news": {"hack_rule": rule}})
        desks.append(Desk())
        return desks[-1]

    yield make
    for desk in desks:
        desk.close()


def _run(desk: Desk, home: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [news_hack_rule],
        resources={
            "warehouse": DuckDBResource(database=str(home / "warehouse.duckdb")),
            "ledger": LedgerResource(url=desk.url),
            "alerts": AlertResource(path=str(home / "alerts.jsonl")),
        },
    )


def _alerts(home: Path) -> list[dict]:
    path = home / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_force_exit_is_sent_and_applied(desk_with, trading_home: Path) -> None:
    desk = desk_with("force-exit")
    desk.enter("a", "BTC/USDT")
    assert [p.symbol for p in desk.ledger.open_positions()] == ["BTC/USDT"]
    _news(
        trading_home / "warehouse.duckdb",
        [
            ("h1", *HACK, 1.0),
            ("old", "Exchange hacked", "", "BTC", 30.0),  # outside the 24h window
            ("e1", "Ethereum exploit", "", "ETH", 1.0),  # ETH is not held
            ("q1", "Bitcoin steady", "", "BTC", 1.0),  # no event
        ],
    )
    assert _run(desk, trading_home).success
    (command,) = desk.ledger.commands(pending_only=True)
    assert (command.command, command.symbol, command.who) == (
        "force-exit", "BTC/USDT", "dagster:hack_rule"
    )  # fmt: skip
    assert command.args["source"] == "dagster"
    desk.tick()
    assert desk.ledger.open_positions() == []
    (alert,) = [a for a in _alerts(trading_home) if "hack/exploit" in json.dumps(a)]
    assert "force-exit sent" in json.dumps(alert) and "critical" in json.dumps(alert)
    # nothing held any more: a second run does nothing
    assert _run(desk, trading_home).success
    assert desk.ledger.commands(pending_only=True) == []


def test_alert_only_records_no_command(desk_with, trading_home: Path) -> None:
    desk = desk_with("alert")
    desk.enter("a", "BTC/USDT")
    _news(trading_home / "warehouse.duckdb", [("h1", *HACK, 2.0)])
    assert _run(desk, trading_home).success
    assert desk.ledger.commands(pending_only=True) == []
    assert any("hack/exploit news about BTC" in json.dumps(a) for a in _alerts(trading_home))


def test_rule_logic_and_refusals() -> None:
    now = utc_now()
    news = pd.DataFrame(
        {
            "item_id": ["h1", "h1b"],
            "published_at": [now - timedelta(hours=1), now + timedelta(hours=1)],
            "title": [HACK[0], HACK[0]],
            "summary": [None, None],
            "symbols": ["BTC", "BTC"],
        }
    )
    hits = hack_hits(news, ["BTC/USDT", "BTC/EUR", "ETH/USDT"], now, timedelta(hours=24))
    assert sorted(h.symbol for h in hits) == ["BTC/EUR", "BTC/USDT"]  # not the future item
    sent: list[tuple] = []

    def refuse(hit: object) -> int:
        raise ValueError("command 3 (force-exit) is already pending")

    out = apply_hack_rule(hits, "force-exit", lambda *a: sent.append(a), refuse)
    assert all("already pending" in o["refused"] for o in out) and len(sent) == 2
    assert apply_hack_rule(hits, "off", lambda *a: sent.append(a), refuse) == []
    with pytest.raises(ValueError, match=r"news\.hack_rule must be one of off, alert, force-exit"):
        apply_hack_rule(hits, "panic", lambda *a: None, refuse)
