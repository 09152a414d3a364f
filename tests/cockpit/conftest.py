"""A TRADING_HOME with a real SQLite ledger (filled through the ledger API), alerts, and the
cockpit's app on it, reached through FastAPI's TestClient as http://127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from executor import schema
from executor.ledger import Ledger
from tests.cockpit.ledger_data import PORTFOLIO_YAML, populate, populate_instances
from trading_core.config import get_config, get_paths
from trading_core.timeframes import utc_now

TOKEN = "cockpit-test-token-5d1e2b7a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TRADES, FILLS_PER_TRADE = 21, 2


@pytest.fixture
def ledger(trading_home: Path) -> Iterator[Ledger]:
    ledger = Ledger(get_paths().ledger_url())
    yield ledger
    ledger.close()


@pytest.fixture
def plan(ledger: Ledger) -> list[dict]:
    return populate(ledger, TRADES, FILLS_PER_TRADE)


@pytest.fixture
def alerts(trading_home: Path) -> list[dict]:
    records = [
        {"at": "2026-12-01T10:00:00", "severity": "warning", "title": "drawdown", "message": "5 %"},
        {"at": "2026-12-01T11:00:00", "severity": "error", "title": "stalled", "message": "3 bars"},
    ]
    lines = [json.dumps(records[0]), "not json {", json.dumps(records[1])]
    (trading_home / "alerts.jsonl").write_text("\n".join(lines) + "\n")
    return records


def make_client(environ: dict[str, str] | None = None, config: Any = None) -> TestClient:
    from trading_pipelines.cockpit import create_app

    app = create_app(get_paths(), config or get_config(), environ=environ or {})
    return TestClient(app, base_url="http://127.0.0.1")


@pytest.fixture
def client(plan: list[dict], alerts: list[dict]) -> Iterator[TestClient]:
    with make_client({"TRADING_COCKPIT_TOKEN": TOKEN}) as c:
        yield c


@pytest.fixture
def portfolio(trading_home: Path, ledger: Ledger) -> dict[str, dict[str, float]]:
    """Three configured instances (the risk protocol on) and one left over, with fills
    around UTC midnight (``ledger_data.populate_instances``): what each row must show."""
    (trading_home / "trading.yaml").write_text(PORTFOLIO_YAML)
    get_config.cache_clear()
    return populate_instances(ledger, utc_now())


@pytest.fixture
def pclient(portfolio: dict) -> Iterator[TestClient]:
    with make_client({"TRADING_COCKPIT_TOKEN": TOKEN}) as c:
        yield c


def ledger_rows(ledger: Ledger) -> dict[str, list[tuple]]:
    """Every row of every ledger table: equal before and after means nothing changed."""
    with ledger.engine.connect() as conn:
        return {
            name: sorted(map(tuple, conn.execute(sa.select(table))), key=repr)
            for name, table in schema.metadata.tables.items()
        }
