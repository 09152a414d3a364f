"""On-chain metrics: replay of the shared CSVs (long and wide), the HTTP backend against a fake."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.fakes.http_json_server import FakeHTTPServer, Reply, Request
from trading_core.config import OnchainConfig
from trading_core.onchain import (
    ONCHAIN_COLUMNS,
    HttpOnchain,
    OnchainSource,
    ReplayOnchain,
    onchain_source_from_config,
)
from trading_core.quality.alt_records import Horizon
from trading_core.social.http_session import retrying_session
from trading_core.social.results import SourceError
from trading_core.warehouse import ensure_schema, replace_slice

FIXED_NOW = datetime(2026, 3, 1, 12, 0, 0)
ALL_TIME = ("2000-01-01", "2100-01-01")


def _fits_table(frame: pd.DataFrame, table: str) -> int:
    with duckdb.connect(":memory:") as conn:
        ensure_schema(conn)
        return replace_slice(conn, table, frame, "true")


@pytest.fixture(scope="module")
def shared_onchain(shared_data: Path) -> pd.DataFrame:
    replay = ReplayOnchain(shared_data / "onchain", clock=lambda: FIXED_NOW)
    assert isinstance(replay, OnchainSource)
    result = replay.fetch_metrics(*ALL_TIME)
    assert result.rejects.empty
    return result.frame


def test_blockchaincom_files_become_long_rows(shared_onchain: pd.DataFrame) -> None:
    assert list(shared_onchain.columns) == ONCHAIN_COLUMNS
    btc = shared_onchain[shared_onchain["asset"] == "BTC"]
    assert btc["metric"].nunique() == 10
    hash_rate = btc[btc["metric"] == "hash_rate"].set_index("ts")["value"]
    assert len(hash_rate) == 1562
    assert hash_rate.loc[pd.Timestamp("2026-02-17")] == pytest.approx(1043091726)
    cap = btc[btc["metric"] == "market_cap"]
    assert cap["ts"].min() == pd.Timestamp("2009-01-11 23:39:41")
    assert (shared_onchain["source"] == "replay").all()
    assert (shared_onchain["ingested_at"] == FIXED_NOW).all()
    assert not shared_onchain.duplicated(["asset", "metric", "ts"]).any()
    assert _fits_table(shared_onchain, "raw.onchain_metrics") == len(shared_onchain)


def test_coinmetrics_wide_file_is_melted_with_shared_names(shared_onchain: pd.DataFrame) -> None:
    uni = shared_onchain[shared_onchain["asset"] == "UNI"]
    metrics = set(uni["metric"])
    assert {"market_price", "n_transactions", "market_cap", "AdrActCnt"} <= metrics
    assert not {"PriceUSD", "TxCnt", "AssetEODCompletionTime"} & metrics
    price = uni[uni["metric"] == "market_price"]
    assert price["ts"].min() >= pd.Timestamp("2020-09-14")
    assert price["value"].gt(0).all()
    # empty cells are "not published", not zeros and not rejects
    first_day = uni[uni["ts"] == pd.Timestamp("2020-09-14")]
    assert "market_price" not in set(first_day["metric"])


def test_metric_asset_and_window_selection(shared_data: Path) -> None:
    replay = ReplayOnchain(shared_data / "onchain", metrics=["market_price"], assets=["btc"])
    frame = replay.fetch_metrics("2025-01-01", "2025-02-01").frame
    assert set(frame["asset"]) == {"BTC"} and set(frame["metric"]) == {"market_price"}
    assert frame["ts"].between("2025-01-01", "2025-02-01", inclusive="left").all()
    assert 7 <= len(frame) <= 9  # ~4-day sampling


def test_malformed_csv_values_are_rejected_not_dropped(tmp_path: Path) -> None:
    (tmp_path / "blockchaincom_btc_hash_rate.csv").write_text(
        "timestamp,hash_rate\n"
        "2025-01-01T00:00:00Z,100\n"
        "2025-01-02T00:00:00Z,lots\n"
        "2025-01-03T00:00:00Z,\n"
        "not-a-date,5\n"
        "2024-06-01T00:00:00Z,oops\n"  # outside the window: another fetch's problem
        "2025-01-04T00:00:00Z,inf\n"
    )
    (tmp_path / "coinmetrics_ETH_1d.csv").write_text(
        "timestamp,PriceUSD,TxCnt\n2025-01-01T00:00:00Z,3300.5,\n2025-01-02T00:00:00Z,,n/a\n"
    )
    result = ReplayOnchain(tmp_path).fetch_metrics("2025-01-01", "2025-02-01")
    rows = result.frame[["asset", "metric", "value"]].values.tolist()
    assert rows == [["BTC", "hash_rate", 100.0], ["ETH", "market_price", 3300.5]]
    reasons = sorted(result.rejects["reason"])
    assert reasons == [
        "bad value: 'inf' is not a finite number",
        "bad value: 'lots' is not a finite number",
        "bad value: 'n/a' is not a finite number",
        "missing value",
        "unparseable timestamp: 'not-a-date'",
    ]
    origins = {json.loads(p)["origin"] for p in result.rejects["payload"]}
    assert "blockchaincom_btc_hash_rate.csv:3" in origins
    assert "coinmetrics_ETH_1d.csv:3" in origins
    assert _fits_table(result.rejects, "raw.quarantine") == 5


def test_replay_fails_loudly_without_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="blockchaincom_"):
        ReplayOnchain(tmp_path).fetch_metrics(*ALL_TIME)


# --- the HTTP backend against a local charts-style JSON server ---------------------------------


def _chart(values: list[dict]) -> Reply:
    return Reply.json({"status": "ok", "name": "Hash Rate", "period": "day", "values": values})


@pytest.mark.integration
def test_http_backend_reads_charts_json() -> None:
    jan1, jan2, feb1 = 1735689600, 1735776000, 1738368000  # 2025-01-01, 01-02, 02-01 UTC
    routes = {
        ("GET", "/charts/hash-rate"): _chart(
            [
                {"x": jan1, "y": 7.5e8},
                {"x": jan2, "y": "n/a"},
                {"y": 1.0},
                {"x": feb1, "y": 8e8},  # at the window's end: excluded
            ]
        ),
        ("GET", "/charts/market-price"): _chart([{"x": jan2, "y": 94000.5}]),
    }
    with FakeHTTPServer(routes) as server:
        source = HttpOnchain(
            f"{server.url}/charts", ["hash_rate", "market_price"], clock=lambda: FIXED_NOW
        )
        result = source.fetch_metrics("2025-01-01", "2025-02-01")
        query = server.requests[0].query
    assert query == {
        "timespan": "31days",
        "start": "2025-01-01",
        "format": "json",
        "sampled": "false",
    }
    assert result.frame[["asset", "metric", "ts", "value"]].values.tolist() == [
        ["BTC", "hash_rate", pd.Timestamp("2025-01-01"), 7.5e8],
        ["BTC", "market_price", pd.Timestamp("2025-01-02"), 94000.5],
    ]
    assert (result.frame["source"] == "http").all()
    assert list(result.rejects["reason"]) == [
        "bad point: y is not a number",
        "bad point: x is not a number",
    ]
    assert _fits_table(result.frame, "raw.onchain_metrics") == 2


@pytest.mark.integration
def test_http_backend_retries_then_names_the_failing_metric() -> None:
    calls = {"n": 0}

    def flaky(request: Request) -> Reply:
        calls["n"] += 1
        return Reply(503, b"busy") if calls["n"] == 1 else _chart([{"x": 1735689600, "y": 1}])

    routes = {
        ("GET", "/c/n-transactions"): flaky,
        ("GET", "/c/difficulty"): Reply(200, b"<html>maintenance</html>"),
    }
    with FakeHTTPServer(routes) as server:
        session = retrying_session(backoff=0)
        ok = HttpOnchain(f"{server.url}/c", ["n_transactions"], session=session)
        assert len(ok.fetch_metrics("2025-01-01", "2025-01-02").frame) == 1
        assert calls["n"] == 2
        broken = HttpOnchain(f"{server.url}/c", ["difficulty"], session=session)
        with pytest.raises(SourceError, match=r"onchain difficulty .*'values' list"):
            broken.fetch_metrics("2025-01-01", "2025-01-02")
        missing = HttpOnchain(f"{server.url}/c", ["hash_rate"], session=session)
        with pytest.raises(SourceError, match=r"onchain hash_rate .*HTTP 404"):
            missing.fetch_metrics("2025-01-01", "2025-01-02")


def test_http_backend_validates_metric_names() -> None:
    with pytest.raises(ValueError, match="snake_case"):
        HttpOnchain("http://127.0.0.1:1", ["hash-rate"])


def test_config_selects_the_backend(tmp_path: Path, shared_data: Path) -> None:
    sample = onchain_source_from_config(OnchainConfig(), samples_root=tmp_path)
    assert isinstance(sample, ReplayOnchain)
    assert sample.directory == tmp_path.resolve() / "onchain"
    replay = onchain_source_from_config(
        OnchainConfig(replay_dir=shared_data / "onchain"), samples_root=tmp_path
    )
    assert isinstance(replay, ReplayOnchain) and replay.directory == shared_data / "onchain"
    live = onchain_source_from_config(
        OnchainConfig(source="live", base_url="http://127.0.0.1:9/charts"), samples_root=tmp_path
    )
    assert isinstance(live, HttpOnchain) and live.metrics == OnchainConfig().metrics


@pytest.mark.integration
def test_http_backend_quarantines_negative_conflicting_and_stray_points() -> None:
    jan1, jan2, jan3 = 1735689600, 1735776000, 1735862400  # 2025-01-01, 01-02, 01-03 UTC
    y2999 = 32472144000  # 2999-01-01 UTC
    routes = {
        ("GET", "/charts/hash-rate"): _chart(
            [
                {"x": jan1, "y": 7.5e8},
                {"x": jan2, "y": -5},
                {"x": jan3, "y": 7.0e8},
                {"x": jan3, "y": 9},
                {"x": y2999, "y": 1.0},
            ]
        ),
    }
    horizon = Horizon(datetime(2009, 1, 1), FIXED_NOW)
    with FakeHTTPServer(routes) as server:
        source = HttpOnchain(f"{server.url}/charts", ["hash_rate"], clock=lambda: FIXED_NOW)
        result = source.fetch_metrics("2025-01-01", "2025-02-01", horizon=horizon)
    assert result.frame[["ts", "value"]].values.tolist() == [[pd.Timestamp("2025-01-01"), 7.5e8]]
    reasons = sorted(r.split(":")[0] for r in result.rejects["reason"])
    assert reasons == [
        "conflicting duplicate",
        "conflicting duplicate",
        "negative value",
        "outside every partition",
    ]
    origins = [json.loads(p)["origin"] for p in result.rejects["payload"]]
    assert any(o.endswith("/hash_rate#4") for o in origins)  # the 2999 point, by index
