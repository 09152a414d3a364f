"""The code location keeps the invariants of ARCHITECTURE.md."""

import ast
from pathlib import Path

import dagster as dg
import pytest
import yaml

from trading_pipelines.definitions import defs

RAW_ASSETS = [
    "raw/ohlcv",
    "raw/order_book_snapshots",
    "raw/reddit_posts",
    "raw/x_posts",
    "raw/news_items",
    "raw/onchain_metrics",
]
RESEARCH_WRITERS = {
    dg.AssetKey(["research", name]) for name in ("backtests", "sweeps", "walk_forward")
}
RESEARCH_SNAPSHOT = dg.AssetKey(["research", "candles"])
MAX_PARTITIONS_PER_RUN = {"raw/ohlcv": 20, "raw/order_book_snapshots": 10}
STABLE_KEYS = [
    *RAW_ASSETS,
    "strategy/order_intents",
    "execution/orders",
    "execution/fills",
    "reports/daily_report",
    "research/backtests",
    "research/sweeps",
    "research/walk_forward",
    "stg_ohlcv",
    "fct_signals",
    "fct_trade_journal",
    "fct_positions",
    "fct_daily_pnl",
]


@pytest.fixture(scope="module")
def location() -> dg.Definitions:
    return defs()


@pytest.fixture(scope="module")
def graph(location):
    return location.resolve_asset_graph()


def materializable(graph):
    return [graph.get(key) for key in graph.materializable_asset_keys]


def test_the_names_users_rely_on_exist(graph) -> None:
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert set(STABLE_KEYS) <= keys


def pools_of(node) -> set[str | None]:
    return {op.pool for op in node.assets_def.node_def.iterate_op_defs()}


def test_every_warehouse_writer_is_in_the_one_writer_pool(graph) -> None:
    # every materializable asset of the code location runs inside a Dagster run that opens
    # the DuckDB warehouse, except research, which writes its own file (research.duckdb);
    # the executor's assets are external (AssetSpecs) and never run here
    for node in materializable(graph):
        if node.key in RESEARCH_WRITERS or node.key in LEDGER_READERS:
            continue
        pools = pools_of(node)
        assert pools == {"duckdb_warehouse"}, f"{node.key.to_user_string()} runs in {pools}"


# assets that read the executor's ledger alone and never open the warehouse
LEDGER_READERS = {dg.AssetKey(["exports", "tax_csv"])}


def test_ledger_readers_never_open_the_warehouse(graph) -> None:
    for key in LEDGER_READERS:
        node = graph.get(key)
        assert "warehouse" not in node.assets_def.required_resource_keys
        assert pools_of(node) <= {None}  # no pool: it never waits behind a warehouse writer


def test_the_pool_limit_is_one() -> None:
    settings = yaml.safe_load(Path("dagster.yaml").read_text())
    assert settings["concurrency"]["pools"]["default_limit"] == 1


def test_every_raw_asset_has_a_blocking_check(graph) -> None:
    for key in RAW_ASSETS:
        specs = list(graph.get(dg.AssetKey.from_user_string(key)).assets_def.check_specs)
        assert any(spec.blocking for spec in specs), f"{key} has no blocking check"


def test_every_partitioned_ingest_backfills_in_bounded_runs(graph) -> None:
    # a backfill run is one step holding the warehouse pool: market data, the costly one per
    # partition, is split so a step stays short (benchmarks/pool_steps.py); alt data is cheap
    for key in RAW_ASSETS:
        assets_def = graph.get(dg.AssetKey.from_user_string(key)).assets_def
        assert assets_def.partitions_def is not None
        policy = assets_def.backfill_policy
        if key in MAX_PARTITIONS_PER_RUN:
            chunk = policy.max_partitions_per_run  # None: one run for any range
            assert chunk is not None and 1 <= chunk <= MAX_PARTITIONS_PER_RUN[key], key
        else:
            assert policy == dg.BackfillPolicy.single_run(), key


def test_every_asset_has_a_group_kinds_and_a_description(graph) -> None:
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable and not node.is_external:
            continue
        name = key.to_user_string()
        assert node.group_name and node.group_name != "default", f"{name} has no group"
        assert node.kinds, f"{name} has no kinds"
        assert node.description, f"{name} has no description"


def test_dbt_tests_are_asset_checks(graph) -> None:
    checks = {k.name for k in graph.asset_check_keys if k.asset_key == dg.AssetKey("stg_ohlcv")}
    assert any(name.startswith("unique_combination") for name in checks)
    assert any(name.startswith("not_null") for name in checks)


def test_journals_refresh_when_the_executor_reports_fills(graph) -> None:
    journal = graph.get(dg.AssetKey("fct_trade_journal"))
    assert journal.automation_condition is not None
    stg_fills = graph.get(dg.AssetKey("stg_fills"))
    assert dg.AssetKey(["execution", "fills"]) in stg_fills.parent_keys


def test_automation_and_the_live_loop_run_by_default(location) -> None:
    running = dg.DefaultSensorStatus.RUNNING
    sensors = {s.name: s for s in location.sensors}
    assert sensors["automation"].default_status == running
    assert sensors["new_bar_sensor"].default_status == running
    schedules = {s.name: s for s in location.schedules}
    assert schedules["live_market"].default_status == dg.DefaultScheduleStatus.RUNNING


def test_the_executor_never_imports_the_code_location() -> None:
    forbidden = ("trading_pipelines", "assets", "sensors", "dagster", "dagster_dbt")
    for path in Path("executor").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path} imports {name}"


def test_a_stalled_feed_shows_as_stale(graph) -> None:
    for key in RAW_ASSETS:
        policy = graph.get(dg.AssetKey.from_user_string(key)).freshness_policy
        assert policy is not None, f"{key} has no freshness policy"


def test_every_research_writer_is_in_the_research_pool(graph) -> None:
    research = {
        key for key in graph.get_all_asset_keys() if graph.get(key).group_name == "research"
    }
    assert research == RESEARCH_WRITERS | {RESEARCH_SNAPSHOT}
    for key in RESEARCH_WRITERS:
        node = graph.get(key)
        assert pools_of(node) == {"duckdb_research"}, f"{key.to_user_string()}"
        assert "research_warehouse" in node.assets_def.required_resource_keys


def test_research_opens_the_live_warehouse_only_in_its_snapshot_step(graph) -> None:
    # the live file is opened through the `warehouse` resource (or dbt): only the snapshot,
    # a short copy inside the warehouse pool, has it; research reads the snapshot
    snapshot = graph.get(RESEARCH_SNAPSHOT)
    assert pools_of(snapshot) == {"duckdb_warehouse"}
    assert snapshot.parent_keys == {dg.AssetKey("stg_ohlcv")}
    for key in RESEARCH_WRITERS:
        node = graph.get(key)
        assert not {"warehouse", "dbt"} & node.assets_def.required_resource_keys, key
        assert node.parent_keys == {RESEARCH_SNAPSHOT}, key
    for node in materializable(graph):
        if "warehouse" in node.assets_def.required_resource_keys:
            assert pools_of(node) == {"duckdb_warehouse"}, node.key.to_user_string()


def test_each_duckdb_file_has_its_own_pool_of_one(location) -> None:
    from trading_core.config import get_paths
    from trading_pipelines.instance import instance_settings

    resources = location.resources
    assert resources["research_warehouse"].database == str(get_paths().research_warehouse)
    assert resources["research_warehouse"].database != resources["warehouse"].database
    with dg.instance_for_test(overrides=instance_settings({})) as instance:
        for pool in ("duckdb_warehouse", "duckdb_research"):
            instance.event_log_storage.initialize_concurrency_limit_to_default(pool)
            assert instance.event_log_storage.get_concurrency_info(pool).slot_count == 1


def test_the_live_evaluation_goes_first_and_always_finds_a_run_slot(location) -> None:
    def priority(job: str) -> int:
        return int(location.resolve_job_def(job).run_tags.get("dagster/priority", "0"))

    assert priority("evaluate_strategy") > 0 > priority("research")
    runs = yaml.safe_load(Path("dagster.yaml").read_text())["concurrency"]["runs"]
    limits = {
        (lim["key"], lim.get("value")): lim["limit"] for lim in runs["tag_concurrency_limits"]
    }
    live = limits[("trading/lane", "evaluation")] + limits[("trading/lane", "live_ingest")]
    others = limits[("trading/lane", "research")] + limits[("dagster/backfill", None)]
    assert location.resolve_job_def("research").run_tags["trading/lane"] == "research"
    # a research run and a backfill run at once leave both live lanes their slot
    assert runs["max_concurrent_runs"] >= live + others


def test_the_evaluation_defers_history_to_its_last_step_and_other_runs_fold_it(location) -> None:
    """The evaluation run's dbt pass defers history because the same run folds it after the
    intents (signals/history); a run without that step folds history itself."""
    from assets.dbt_models import history_env
    from assets.signal_history import SIGNAL_HISTORY_KEY
    from assets.strategy import INTENTS_KEY
    from trading_core.incremental_history import HISTORY_ENV

    evaluation = location.resolve_job_def("evaluate_strategy")
    keys = evaluation.asset_layer.selected_asset_keys
    assert {INTENTS_KEY, SIGNAL_HISTORY_KEY, dg.AssetKey(["fct_signals"])} <= keys
    assert history_env(keys) == {HISTORY_ENV: "defer"}
    history = location.resolve_asset_graph().get(SIGNAL_HISTORY_KEY)
    assert INTENTS_KEY in history.parent_keys  # it runs after the bar's intents
    subset = evaluation.get_subset(asset_selection={dg.AssetKey(["fct_signals"])})
    assert history_env(subset.asset_layer.selected_asset_keys) == {}
    market = location.resolve_job_def("ingest_market")
    assert history_env(market.asset_layer.selected_asset_keys) == {}
