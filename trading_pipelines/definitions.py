"""The code location: every asset, check, job, schedule, sensor and resource, in one place.

Resources are built from the one configuration (trading_core.config: defaults, an optional
YAML file and TRADING_* environment variables), so switching a source from its offline to
its live backend is configuration, never code. ``build_definitions`` takes the configuration
and the root explicitly (tests build isolated ones); ``defs``, a ``@dg.definitions`` function,
is the code location: Dagster's tools (``dagster dev -m``/``-w workspace.yaml``, ``dagster asset
materialize -m trading_pipelines.definitions``) call it when they load the module. Importing
this module only reads the prepared dbt manifest: it writes no ``os.environ`` and prepares no
dbt project (``python -m trading_pipelines.launcher prepare`` does, and ``make`` runs it).
"""

from __future__ import annotations

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.cockpit_snapshot import build_cockpit_snapshot_asset
from assets.dbt_models import dbt_models
from assets.drift import build_drift_report_asset
from assets.execution import EXECUTION_SPECS
from assets.exports import build_tax_csv_asset
from assets.hack_rule import news_hack_rule
from assets.ingest.alt_data import build_alt_data_assets
from assets.ingest.funding import build_funding_assets
from assets.ingest.order_books import build_order_book_asset
from assets.ingest.prices import build_ohlcv_asset
from assets.ingest.trades import build_trades_asset
from assets.reports import build_daily_report_asset
from assets.research import build_research_assets
from assets.signal_history import signal_history
from assets.strategy import order_intents
from sensors.alerts import build_executor_health_sensor, run_failure_alert
from sensors.new_bars import build_new_bar_sensor
from trading_core.config import Paths, TradingConfig
from trading_core.reports.drift_run import DriftSetup
from trading_pipelines.control_jobs import CONTROL_JOBS
from trading_pipelines.dbt import dbt_resource
from trading_pipelines.jobs import (
    evaluate_strategy_job,
    ingest_alt_data_job,
    ingest_market_job,
    refresh_job,
    research_job,
    signal_checks_job,
)
from trading_pipelines.partitions import daily_partitions, market_freshness, market_partitions
from trading_pipelines.resources.alerts import AlertResource
from trading_pipelines.resources.alt_data import alt_data_resources
from trading_pipelines.resources.ledger import LedgerResource
from trading_pipelines.resources.market import MarketDataResource
from trading_pipelines.resources.research import ResearchWarehouse
from trading_pipelines.resources.strategy import StrategyResource
from trading_pipelines.run_priority import priority_in_process_executor
from trading_pipelines.schedules import (
    alt_data_schedule,
    daily_report_schedule,
    live_market_schedule,
)
from trading_pipelines.settings import config, paths


def build_definitions(cfg: TradingConfig, root: Paths) -> dg.Definitions:
    market_parts = market_partitions(cfg.market)
    days = daily_partitions(cfg.market)
    drift = DriftSetup.from_config(cfg, root.ledger_url())
    daily_report = build_daily_report_asset(days, root.reports, drift=drift)
    ingest_market = ingest_market_job(market_parts)
    evaluate_strategy = evaluate_strategy_job(market_parts)
    ingest_alt_data = ingest_alt_data_job(days)
    return dg.Definitions(
        assets=[
            build_ohlcv_asset(market_parts, market_freshness(cfg.market)),
            build_order_book_asset(market_parts, market_freshness(cfg.market)),
            build_trades_asset(market_parts),
            *build_funding_assets(market_parts),
            *build_alt_data_assets(days),
            news_hack_rule,  # the hack/exploit rule (assets/hack_rule.py)
            dbt_models,
            order_intents,
            signal_history,
            *EXECUTION_SPECS,
            daily_report,
            build_drift_report_asset(days, drift, root.reports),
            *build_research_assets(root.reports),
            build_cockpit_snapshot_asset(root.home / "snapshots" / "cockpit.duckdb"),
            build_tax_csv_asset(root.home / "exports"),
        ],
        jobs=[
            ingest_market,
            ingest_alt_data,
            evaluate_strategy,
            signal_checks_job,
            refresh_job,
            research_job,
            *CONTROL_JOBS,  # operator overrides from the launchpad (control_jobs.py)
        ],
        schedules=[
            live_market_schedule(ingest_market, cfg.market, cfg.operations),
            alt_data_schedule(ingest_alt_data),
            daily_report_schedule(daily_report, cfg.market),
        ],
        sensors=[
            build_new_bar_sensor(evaluate_strategy, cfg.operations, cfg.market, signal_checks_job),
            build_executor_health_sensor(root.executor_state / "health.json"),
            run_failure_alert,
            dg.AutomationConditionSensorDefinition(
                "automation",
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
                minimum_interval_seconds=30,
            ),
        ],
        resources={
            "warehouse": DuckDBResource(database=str(root.warehouse)),
            "research_warehouse": ResearchWarehouse.under(root),
            "dbt": dbt_resource(root.home),
            "market": MarketDataResource.from_config(cfg.market),
            "ledger": LedgerResource(url=root.ledger_url(), mode=cfg.executor.mode),
            "strategy": StrategyResource.from_config(
                cfg.strategy,
                cfg.risk,
                cfg.executor.quote_currency,
                cfg.executor.starting_cash,
                # the enabled `strategies:` instances (None: the single strategy, `default`)
                [i for i in cfg.strategies.root if i.enabled] if cfg.strategies.root else None,
                cfg.protocol,
                cfg.fees,
            ),
            "alerts": AlertResource(path=str(root.home / "alerts.jsonl")),
            **alt_data_resources(cfg, root),
        },
        executor=priority_in_process_executor,  # in-process; background runs niced
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location, from this process's configuration and root (created private to
    the user if missing, so a first `dagster asset materialize` finds its warehouse folder)."""
    return build_definitions(config(), paths().ensure())
