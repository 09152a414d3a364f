"""``news_hack_rule``: the hack/exploit rule (trading_core/hack_rule.py) after each news ingest.

Reads the recent rows of ``raw.news_items`` from the warehouse and the open positions from
the ledger; under ``news.hack_rule: force-exit`` records ``force-exit SYMBOL`` in the ledger
the way ``trading control force-exit`` does (``executor.override_ledger.issue``, who
``dagster:hack_rule``, source ``dagster``), and alerts in every mode but ``off``. The executor
applies the command at its next tick; it never reads the warehouse.
"""

from datetime import timedelta

import dagster as dg
from dagster_duckdb import DuckDBResource

from trading_core.config import get_config
from trading_core.hack_rule import WHO, HackHit, apply_hack_rule, hack_hits
from trading_core.timeframes import utc_now
from trading_pipelines.resources.alerts import AlertResource
from trading_pipelines.resources.ledger import LedgerResource


@dg.asset(
    name="news_hack_rule",
    group_name="alt_data",
    kinds={"python", "duckdb"},
    pool="duckdb_warehouse",  # it opens the warehouse: the one-writer pool
    deps=[dg.AssetKey(["raw", "news_items"])],
    automation_condition=dg.AutomationCondition.eager(),
    description="Alert on (or force-exit) a held asset a hack/exploit news item concerns.",
)
def news_hack_rule(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    ledger: LedgerResource,
    alerts: AlertResource,
) -> dg.MaterializeResult:
    from executor import override_ledger

    cfg = get_config()
    window = timedelta(hours=cfg.news.hack_window_hours)
    now = utc_now()
    with warehouse.get_connection() as conn:
        news = conn.execute(
            "select item_id, published_at, title, summary, symbols from raw.news_items "
            "where published_at > ?",
            [now - window],
        ).df()
    with ledger.open() as book:
        held = [p.symbol for p in book.open_positions() if p.quantity > 0]
        hits = hack_hits(news, held, now, window)

        def force_exit(hit: HackHit) -> int:
            return override_ledger.issue(
                book, cfg, "force-exit", who=WHO, symbol=hit.symbol, source="dagster",
                why=f"hack/exploit news: {hit.title}", run_id=context.run_id,
            )  # fmt: skip

        outcomes = apply_hack_rule(
            hits,
            cfg.news.hack_rule,
            lambda severity, title, message, key: alerts.send(severity, title, message, key=key),
            force_exit,
        )
    for outcome in outcomes:
        context.log.warning(str(outcome))
    return dg.MaterializeResult(
        metadata={"rule": cfg.news.hack_rule, "hits": len(hits), "outcomes": str(outcomes)}
    )
