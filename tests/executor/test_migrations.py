"""Schema migrations: a ledger written by an older executor is upgraded in place, data kept."""

from datetime import datetime

import pytest
import sqlalchemy as sa

from executor import schema
from executor.intents import OrderIntent, make_intent_id
from executor.ledger import Ledger
from executor.migrations import LedgerSchemaError, current_version, upgrade


def intent(post_only: bool = False, minute: int = 0) -> OrderIntent:
    bar = datetime(2026, 1, 1, 10, minute)
    return OrderIntent(
        intent_id=make_intent_id("macd", "sim", "BTC/USDT", "1m", bar, "open"),
        strategy="macd", exchange="sim", symbol="BTC/USDT", timeframe="1m", bar_ts=bar,
        decided_at=bar, side="buy", action="open", order_type="limit", notional=100.0,
        limit_price=60_000.0, reference_price=60_100.0, post_only=post_only,
    )  # fmt: skip


def as_version_1(url: str) -> None:
    """What an executor of schema version 1 left behind: no intents.post_only."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE intents DROP COLUMN post_only"))
        conn.execute(schema.schema_version.delete())
        conn.execute(
            schema.schema_version.insert().values(
                version=1, applied_at=datetime(2026, 1, 1), description="initial schema"
            )
        )
    engine.dispose()


def test_a_version_1_ledger_is_upgraded_and_keeps_its_intents(ledger_url: str) -> None:
    old = Ledger(ledger_url)
    old.close()
    as_version_1(ledger_url)
    engine = sa.create_engine(ledger_url)
    with engine.begin() as conn:
        conn.execute(
            schema.intents.insert().values(
                {k: v for k, v in intent().to_row().items() if k != "post_only"}
                | {
                    "status": "NEW",
                    "created_at": datetime(2026, 1, 1),
                    "updated_at": datetime(2026, 1, 1),
                }
            )
        )
    engine.dispose()
    ledger = Ledger(ledger_url)  # opening upgrades
    with ledger.transaction() as conn:
        assert current_version(conn) == schema.SCHEMA_VERSION == 2
    [kept] = ledger.new_intents()
    assert kept.intent.intent_id == intent().intent_id and kept.intent.post_only is False
    assert ledger.add_intents([intent(post_only=True, minute=1)]) == 1
    assert [r.intent.post_only for r in ledger.new_intents()] == [False, True]
    ledger.close()


def test_a_ledger_newer_than_the_executor_is_refused(sqlite_url: str) -> None:
    Ledger(sqlite_url).close()
    engine = sa.create_engine(sqlite_url)
    with pytest.raises(LedgerSchemaError, match="newer than this executor"):
        upgrade(engine, target=1)
    engine.dispose()
