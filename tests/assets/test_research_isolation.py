"""Research never holds the live path up: it reads a Parquet snapshot of the candles, writes
research.duckdb in its own pool, and runs at a lower CPU priority with one thread.

Real runs on a small warehouse (ten days of hourly XRPUSDT candles) and a Dagster instance
built from the repository's dagster.yaml, so pools are enforced as in `make run`.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from assets.dbt_models import dbt_models
from assets.ingest.prices import build_ohlcv_asset
from assets.research import build_research_assets
from tests.assets.conftest import market_resource
from trading_core.config import Paths
from trading_pipelines.dbt import dbt_resource
from trading_pipelines.instance import instance_settings
from trading_pipelines.partitions import market_partitions
from trading_pipelines.resources.research import CANDLES_KEY, ResearchWarehouse
from trading_pipelines.resources.strategy import StrategyResource

pytestmark = pytest.mark.integration

FIRST, LAST = "2024-03-01", "2024-03-10"  # 240 hourly candles
SMALL_GRID = {"fast": [6.0, 12.0], "slow": [26.0], "signal": [9.0]}
RESEARCH_CONFIG = {
    "ops": {
        "research__sweeps": {"config": {"grid": SMALL_GRID}},
        "research__walk_forward": {
            "config": {"grid": SMALL_GRID, "in_sample_bars": 120, "out_of_sample_bars": 48}
        },
    }
}
LOCK_HOLDER = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1])
conn.execute("select count(*) from raw.ohlcv").fetchall()
print("locked", flush=True)
time.sleep(600)
"""


@pytest.fixture
def strategy() -> StrategyResource:
    return StrategyResource(
        name="macd", timeframe="1h", params={"fast": 12, "slow": 26, "signal": 9},
        lookback_bars=300, position_fraction=0.2, stop_loss_pct=0.02, take_profit_pct=0.04,
        trailing_stop_pct=None, quote_currency="USDT", starting_cash=500.0,
    )  # fmt: skip


@pytest.fixture
def live_warehouse(trading_home: Path, warehouse: DuckDBResource, shared_data: Path) -> Path:
    """A small live warehouse: raw/ohlcv for ten days, and stg_ohlcv over it."""
    market = market_resource(
        source="replay", exchanges=["binance"], symbols=["XRP/USDT"], timeframes=["1h"],
        replay_dir=str(shared_data / "market"), start_date=date(2024, 1, 1),
    )  # fmt: skip
    assert dg.materialize(
        [build_ohlcv_asset(market_partitions(market.market_config()))],
        resources={"market": market, "warehouse": warehouse},
        tags={
            "dagster/asset_partition_range_start": f"{FIRST}|XRP-USDT",
            "dagster/asset_partition_range_end": f"{LAST}|XRP-USDT",
        },
    ).success
    assert dg.materialize(
        [dbt_models],
        resources={"dbt": dbt_resource()},
        selection=dg.AssetSelection.assets("stg_ohlcv"),
    ).success
    return trading_home / "warehouse.duckdb"


@pytest.fixture
def instance():
    with dg.instance_for_test(overrides=instance_settings({})) as instance:
        yield instance


@contextmanager
def held_open(database: Path) -> Iterator[None]:
    """Another process holding ``database`` open, as a live writer does."""
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(database)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.kill()
        holder.wait()


def split(assets: list[dg.AssetsDefinition]):
    (snapshot,) = [a for a in assets if CANDLES_KEY in a.keys]
    return snapshot, [a for a in assets if a is not snapshot]


def metadata_of(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    return {
        event.asset_key.to_user_string(): {
            key: value.value for key, value in event.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
    }


@pytest.mark.timeout(180)  # a research step waiting for the held warehouse slot would hang
def test_research_runs_while_a_live_writer_holds_the_warehouse_and_its_pool(
    trading_home, live_warehouse, warehouse, strategy, instance
) -> None:
    root = Paths(trading_home)
    store = ResearchWarehouse.under(root)
    snapshot, research = split(build_research_assets(root.reports))
    taken = dg.materialize(
        [snapshot],
        resources={"warehouse": warehouse, "research_warehouse": store},
        instance=instance,
    )
    assert taken.success
    with duckdb.connect(str(live_warehouse), read_only=True) as conn:
        live = conn.execute(
            "select exchange, symbol, timeframe, ts, open, high, low, close, volume "
            "from staging.stg_ohlcv order by ts"
        ).df()
    copied = pd.read_parquet(store.snapshot).sort_values("ts").reset_index(drop=True)
    pd.testing.assert_frame_equal(copied, live, check_dtype=False)
    assert metadata_of(taken)["research/candles"]["candles"] == len(live) == 240

    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default("duckdb_warehouse")
    niceness_before = os.getpriority(os.PRIO_PROCESS, 0)
    with held_open(live_warehouse):
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(live_warehouse), read_only=True)  # the lock is real
        # ...and a live evaluation holds the warehouse pool's one slot
        claim = storage.claim_concurrency_slot("duckdb_warehouse", "live-run", "fct_signals")
        assert claim.is_claimed
        result = dg.materialize(
            research,
            resources={"research_warehouse": store, "strategy": strategy},
            instance=instance,
            run_config=RESEARCH_CONFIG,
        )
        assert result.success
    assert os.getpriority(os.PRIO_PROCESS, 0) == niceness_before  # the test process is untouched
    metadata = metadata_of(result)
    assert set(metadata) == {"research/backtests", "research/sweeps", "research/walk_forward"}
    for values in metadata.values():
        assert values["niceness"] == 10 and values["threads"] == 1
    assert storage.get_concurrency_info("duckdb_warehouse").claimed_slots[0].run_id == "live-run"
    assert storage.get_concurrency_info("duckdb_research").slot_count == 1

    # readers find the results as research.<table>, in research.duckdb and nowhere else
    with duckdb.connect(store.database, read_only=True) as conn:
        tables = {row[0] for row in conn.execute(
            "select table_name from information_schema.tables where table_catalog = 'research'"
        ).fetchall()}  # fmt: skip
        sweeps = conn.execute("select fast, slow, signal from research.sweeps order by 1").df()
    assert tables == {"backtests", "sweeps", "walk_forward", "walk_forward_folds"}
    assert sweeps.to_dict("list") == {"fast": [6, 12], "slow": [26, 26], "signal": [9, 9]}
    with duckdb.connect(str(live_warehouse), read_only=True) as conn:
        live_tables = {row[0] for row in conn.execute(
            "select table_name from information_schema.tables"
        ).fetchall()}  # fmt: skip
    assert not live_tables & tables


def test_research_without_a_snapshot_says_what_to_materialize(trading_home, strategy) -> None:
    root = Paths(trading_home)
    _, research = split(build_research_assets(root.reports))
    result = dg.materialize(
        research,
        resources={"research_warehouse": ResearchWarehouse.under(root), "strategy": strategy},
        run_config=RESEARCH_CONFIG,
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "no candle snapshot" in failure.message
    assert "research/candles" in failure.message


def test_a_snapshot_of_a_warehouse_without_stg_ohlcv_names_it(trading_home, warehouse) -> None:
    root = Paths(trading_home)
    snapshot, _ = split(build_research_assets(root.reports))
    result = dg.materialize(
        [snapshot],
        resources={"warehouse": warehouse, "research_warehouse": ResearchWarehouse.under(root)},
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "materialize stg_ohlcv first" in failure.message
    assert not (root.lake / "research" / "candles.parquet").exists()


def test_a_snapshot_path_with_quotes_and_spaces(tmp_path, warehouse) -> None:
    with warehouse.get_connection() as conn:
        conn.execute("create schema staging")
        conn.execute(
            "create table staging.stg_ohlcv as select 'x' as exchange, 'A/B' as symbol, "
            "'1h' as timeframe, timestamp '2024-01-01' + to_hours(i) as ts, 1.0 as open, "
            "2.0 as high, 0.5 as low, 1.5 as close, 3.0 as volume, 'replay' as source "
            "from range(5) t(i)"
        )
    odd = tmp_path / 'it\'s a "lake"; drop table x' / "candles.parquet"
    store = ResearchWarehouse(database=str(tmp_path / "r.duckdb"), snapshot=str(odd))
    snapshot, _ = split(build_research_assets(tmp_path / "reports"))
    result = dg.materialize(
        [snapshot], resources={"warehouse": warehouse, "research_warehouse": store}
    )
    assert metadata_of(result)["research/candles"]["candles"] == 5
    assert list(pd.read_parquet(odd).columns) == [
        "exchange", "symbol", "timeframe", "ts", "open", "high", "low", "close", "volume"
    ]  # fmt: skip
    assert not list(odd.parent.glob(".*partial"))


@pytest.mark.parametrize(
    ("field", "value"), [("threads", 0), ("threads", -1), ("niceness", -5), ("niceness", 20)]
)
def test_research_limits_out_of_range_are_refused(field: str, value: int) -> None:
    with pytest.raises(Exception, match=field):
        ResearchWarehouse(database="r.duckdb", snapshot="c.parquet", **{field: value})
