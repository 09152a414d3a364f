"""The ledger's ON CONFLICT DO NOTHING inserts have a cache key, and a key that tells
statements apart (values bound, conflict target part of the key)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from executor import schema
from executor.ledger.cached_insert import cached_insert


def _fill_insert(dialect: str, trade_id: str, target: list[str]) -> sa.Insert:
    return (
        cached_insert(dialect, schema.fills)
        .values(exchange="sim", symbol="BTC/USDT", trade_id=trade_id)
        .on_conflict_do_nothing(index_elements=target)
        .returning(schema.fills.c.id)
    )


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_key_shared_by_values_and_split_by_target(dialect: str) -> None:
    target = ["exchange", "symbol", "trade_id"]
    a = _fill_insert(dialect, "t1", target)._generate_cache_key()
    b = _fill_insert(dialect, "t2", target)._generate_cache_key()
    c = _fill_insert(dialect, "t1", ["exchange", "trade_id"])._generate_cache_key()
    plain = (
        cached_insert(dialect, schema.fills)
        .values(exchange="sim", symbol="BTC/USDT", trade_id="t1")
        .returning(schema.fills.c.id)
    )._generate_cache_key()
    assert a is not None and a == b  # the values are bound parameters
    assert a != c and a != plain  # the target (or its absence) changes the SQL


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize("target", [None, [], [""], [schema.fills.c.exchange], [1]])
def test_target_must_be_column_names(dialect: str, target: object) -> None:
    with pytest.raises(ValueError):
        cached_insert(dialect, schema.fills).on_conflict_do_nothing(index_elements=target)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_other_conflict_options_refused(dialect: str) -> None:
    stmt = cached_insert(dialect, schema.fills)
    with pytest.raises(ValueError):
        stmt.on_conflict_do_nothing(index_elements=["trade_id"], index_where=sa.true())
    with pytest.raises(ValueError):
        stmt.on_conflict_do_nothing("fills_pkey")


def test_ledger_insert_runs_once_per_key(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'l.db'}")
    schema.metadata.create_all(engine)
    with engine.begin() as conn:
        stmt = (
            cached_insert("sqlite", schema.ledger_meta)
            .values(key="k", value="v", updated_at=sa.func.current_timestamp())
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(schema.ledger_meta.c.key)
        )
        assert conn.execute(stmt).first() is not None
        assert conn.execute(stmt).first() is None  # the conflict is ignored, not raised
