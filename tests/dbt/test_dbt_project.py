"""The whole dbt project builds on fresh data, its tests pass, and analysts get every column
of every model documented."""

import json
from datetime import timedelta

import dagster as dg
import duckdb
import pytest

from assets.dbt_models import dbt_models
from trading_core.config import SocialConfig
from trading_core.market.sim import SimMarket
from trading_core.social.reddit import reddit_source_from_config
from trading_core.timeframes import utc_now
from trading_core.warehouse import ensure_schema, replace_slice
from trading_pipelines.dbt import DBT_PROJECT, dbt_resource

pytestmark = pytest.mark.integration


def seed_warehouse(home) -> None:
    now = utc_now().replace(second=0, microsecond=0)
    market = SimMarket(seed=7)
    candles = market.fetch_ohlcv("sim", "BTC/USDT", "1m", now - timedelta(hours=12), now, now)
    book = market.fetch_order_book("sim", "BTC/USDT", 20, now - timedelta(minutes=2)).to_frame()
    posts = reddit_source_from_config(SocialConfig(), samples_root=home / "samples")
    with duckdb.connect(str(home / "warehouse.duckdb")) as conn:
        ensure_schema(conn)
        replace_slice(conn, "raw.ohlcv", candles.assign(source="sim", ingested_at=now), "true")
        replace_slice(
            conn, "raw.order_book_snapshots", book.assign(source="sim", ingested_at=now), "true"
        )
        replace_slice(
            conn, "raw.reddit_posts", posts.fetch_posts(now - timedelta(days=2), now).frame, "true"
        )


def test_every_model_builds_passes_its_tests_and_is_documented(trading_home) -> None:
    seed_warehouse(trading_home)
    result = dg.materialize([dbt_models], resources={"dbt": dbt_resource()})
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]
    nodes = json.loads(DBT_PROJECT.manifest_path.read_text())["nodes"].values()
    models = {n["name"]: n for n in nodes if n["resource_type"] == "model"}
    with duckdb.connect(str(trading_home / "warehouse.duckdb"), read_only=True) as conn:
        for name, node in models.items():
            built = conn.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ?",
                [node["schema"], name],
            ).fetchall()
            assert built, f"{name} was not built"
            documented = {c for c, spec in node["columns"].items() if spec["description"]}
            missing = {c for (c,) in built} - documented
            assert not missing, f"{name}: undocumented columns {sorted(missing)}"
