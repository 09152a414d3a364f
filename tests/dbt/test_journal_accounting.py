"""The trade journal counts fees in the currency they were paid in, through the one
accounting core: fee in quote, in the base asset (Binance spot buys) and in a third currency
(BNB, or ETH valued from real candles), hand-computed; a third-currency fee without a price
is marked unvalued and never added to quote amounts. The round-trip view (fct_trades):
holding period, exit reason, MFE/MAE and the signals at entry on a small example worked by
hand. Then the same through a real dbt build on a scratch warehouse fed with real Binance
candles and Parquet fills in the executor's lake layout."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from executor.orders import ROLE_CODES
from trading_core.accounting import AccountingError
from trading_core.journal import build_journal
from trading_core.journal_trades import (
    excursions,
    exit_reason,
    onchain_at,
    round_trips,
    technical_score,
    trades,
)

T0 = pd.Timestamp("2025-01-01 10:30")


def fill(side, quantity, price, fee=0.0, currency=None, minutes=0, **extra) -> dict:
    return {
        "mode": "paper", "exchange": "binance", "symbol": "BTC/USDT", "strategy": "macd",
        "side": side, "quantity": quantity, "price": price, "fee": fee, "fee_currency": currency,
        "event_time": T0 + pd.Timedelta(minutes=minutes), "trade_id": str(minutes), **extra,
    }  # fmt: skip


def journal_of(*rows: dict, candles: pd.DataFrame | None = None) -> pd.DataFrame:
    return build_journal(pd.DataFrame(list(rows)), candles)


def closes(symbol: str, *points: tuple[int, float]) -> pd.DataFrame:
    """Candle closes of ``symbol`` known ``minutes`` after T0 (negative: before)."""
    return pd.DataFrame(
        [
            {"exchange": "binance", "symbol": symbol, "close": close,
             "available_at": T0 + pd.Timedelta(minutes=minutes)}
            for minutes, close in points
        ]
    )  # fmt: skip


# ---------------------------------------------------------------- fees, pure


def test_fee_in_quote_reduces_cash_and_nets_from_gross() -> None:
    j = journal_of(fill("buy", 1, 100, 0.1, "USDT"), fill("sell", 1, 110, 0.11, "USDT", 60))
    assert j["base_delta"].tolist() == pytest.approx([1, -1])
    assert j["quote_delta"].tolist() == pytest.approx([-100.1, 109.89])
    assert j["fee_quote"].tolist() == pytest.approx([0.1, 0.11])
    assert j["realized_pnl_gross"].tolist() == pytest.approx([0, 10])
    assert j["realized_pnl_net"].tolist() == pytest.approx([-0.1, 9.89])
    assert round_trips(j)["realized_pnl_net"].iloc[0] == pytest.approx(9.79)


def test_fee_in_the_base_asset_reduces_the_quantity_and_is_valued_at_the_fill_price() -> None:
    # Binance spot: a buy of 1 BTC with 0.001 BTC commission leaves 0.999 BTC
    j = journal_of(
        fill("buy", 1, 100, 0.001, "BTC"), fill("sell", 0.998, 110, 0.001, "BTC", minutes=60)
    )
    assert j["position_after"].tolist() == pytest.approx([0.999, 0])
    assert j["base_delta"].tolist() == pytest.approx([0.999, -0.999])
    assert j["quote_delta"].tolist() == pytest.approx([-100, 109.78])
    assert j["fee_quote"].tolist() == pytest.approx([0.1, 0.11])  # 0.001 BTC x 100, x 110
    assert j["average_cost_after"].iloc[0] == 100  # gross of fees
    assert j["realized_pnl_gross"].tolist() == pytest.approx([0, 9.99])  # 10 x 0.999
    assert j["role"].tolist() == ["open", "close"]
    trip = round_trips(j).iloc[0]
    assert trip["realized_pnl_net"] == pytest.approx(9.99 - 0.1 - 0.11)
    # the cash the two fills moved is exactly the net P&L of the flat round trip
    assert j["quote_delta"].sum() == pytest.approx(trip["realized_pnl_net"])


def test_a_bnb_fee_moves_neither_balance_and_is_valued_at_the_known_price() -> None:
    bnb = closes("BNB/USDT", (-30, 550.0), (61, 999.0))  # the 999 close comes after the sell
    j = journal_of(
        fill("buy", 1, 100, 0.0002, "BNB", fee_price_quote=500.0),
        fill("sell", 1, 110, 0.0002, "BNB", minutes=60),
        candles=bnb,
    )
    assert j["base_delta"].tolist() == pytest.approx([1, -1])
    assert j["quote_delta"].tolist() == pytest.approx([-100, 110])
    assert j["fee_asset"].tolist() == ["BNB", "BNB"]
    assert j["fee_price_quote"].tolist() == pytest.approx([500, 550])
    assert j["fee_quote"].tolist() == pytest.approx([0.1, 0.11])
    assert not j["fee_unvalued"].any()
    assert round_trips(j)["realized_pnl_net"].iloc[0] == pytest.approx(10 - 0.21)


def test_a_bnb_fee_without_a_price_is_marked_unvalued_and_never_summed_as_usdt() -> None:
    j = journal_of(fill("buy", 1, 100, 0.0002, "BNB"), fill("sell", 1, 110, 0.0002, "BNB", 60))
    assert j["fee_unvalued"].tolist() == [True, True]
    assert all("BNB/USDT" in reason for reason in j["fee_unvalued_reason"])
    assert j["fee_quote"].isna().all() and j["realized_pnl_net"].isna().all()
    assert j["realized_pnl_gross"].tolist() == pytest.approx([0, 10])
    assert j["quote_delta"].tolist() == pytest.approx([-100, 110])
    trip = round_trips(j).iloc[0]
    assert trip["fees_unvalued"] == 2
    assert math.isnan(trip["realized_pnl_net"]) and math.isnan(trip["fee_quote"])


def test_a_stale_price_does_not_value_a_fee() -> None:
    j = journal_of(
        fill("buy", 1, 100, 0.0002, "BNB"), candles=closes("BNB/USDT", (-60 * 25, 500.0))
    )
    assert j["fee_unvalued"].iloc[0]
    assert "older than" in j["fee_unvalued_reason"].iloc[0]


def test_a_zero_bnb_fee_needs_no_price() -> None:
    j = journal_of(fill("buy", 1, 100, 0.0, "BNB"))
    assert not j["fee_unvalued"].iloc[0] and j["fee_quote"].iloc[0] == 0


def test_crossing_zero_with_a_base_fee_splits_quantity_and_fee_by_the_base_moved() -> None:
    # long 1; sell 1.5 paying 0.0015 BTC: 1.5015 BTC leave, 1 closes the long, 0.5015 is short
    j = journal_of(fill("buy", 1, 100), fill("sell", 1.5, 120, 0.0015, "BTC", minutes=60))
    assert j["role"].tolist() == ["open", "close", "open"]
    assert j["round_trip"].tolist() == [1, 1, 2]
    assert j["position_after"].tolist() == pytest.approx([1, 0, -0.5015])
    assert j["quantity"].iloc[1:].sum() == pytest.approx(1.5)
    assert j["fee"].iloc[1:].sum() == pytest.approx(0.0015)
    assert j["fee_quote"].iloc[1:].sum() == pytest.approx(0.0015 * 120)
    assert j["realized_pnl_gross"].tolist() == pytest.approx([0, 20, 0])
    assert j["average_cost_after"].iloc[-1] == 120


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"quantity": float("nan")}, "quantity"),
        ({"quantity": -1.0}, "quantity"),
        ({"quantity": "1"}, "quantity"),
        ({"price": -5.0}, "price"),
        ({"price": float("inf")}, "price"),
        ({"fee": -0.1}, "fee"),
        ({"side": "hold"}, "side"),
        ({"symbol": "BTCUSDT"}, "symbol"),
        ({"fee_currency": "BNB", "fee": 1.0, "fee_price_quote": -3.0}, "fee_price_quote"),
        ({"quantity": 1e200, "price": 1e200}, "overflows"),
    ],
)
def test_a_bad_fill_is_an_error_naming_the_field_and_the_fill(change, field) -> None:
    bad = {**fill("buy", 1, 100), "fill_id": "binance:BTC/USDT:7", **change}
    with pytest.raises(AccountingError, match=field) as error:
        journal_of(bad)
    assert "binance:BTC/USDT:7" in str(error.value)


def test_duplicate_fill_ids_are_refused() -> None:
    twice = {**fill("buy", 1, 100), "fill_id": "binance:BTC/USDT:1"}
    with pytest.raises(AccountingError, match="fill_id"):
        journal_of(twice, twice)


# ---------------------------------------------------------- round trips, pure


def bar(hour: int, high: float, low: float, symbol: str = "BTC/USDT") -> dict:
    ts = pd.Timestamp("2025-01-01") + pd.Timedelta(hours=hour)
    return {"exchange": "binance", "symbol": symbol, "timeframe": "1h", "ts": ts,
            "available_at": ts + pd.Timedelta(hours=1), "high": high, "low": low}  # fmt: skip


CANDLES = pd.DataFrame(
    [
        bar(9, 130, 70),  # closes at 10:00, before the 10:30 entry: not in the trade
        bar(10, 102, 97),
        bar(11, 106, 99),
        bar(12, 103, 98),
        bar(13, 105, 101),  # the exit bar (exit 13:30) counts in full
        bar(14, 120, 80),  # after the exit
    ]
)
REASONS = (
    '{"macd": {"confidence": 1.0, "contribution": 0.2, "normalised": 0.5, "value": 1.2, '
    '"weight": 1.0}, "rsi": {"confidence": 0.5, "contribution": -0.1, "normalised": -0.2, '
    '"value": 40.0, "weight": 1.0}, "sentiment": {"confidence": 1.0, "contribution": 0.3, '
    '"normalised": 0.9, "value": 0.9, "weight": 0.5}}'
)
SIGNALS = pd.DataFrame(
    [
        {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h",
         "ts": pd.Timestamp("2025-01-01 09:00"), "available_at": pd.Timestamp("2025-01-01 10:00"),
         "close": 100.0, "atr_14": 2.0, "regime": "trending_up_low_vol", "sentiment_score": 0.4,
         "score": 0.6, "confidence": 0.7, "action": "BUY", "reasons": REASONS}
    ]
)  # fmt: skip


def test_a_closed_long_has_its_holding_period_exit_reason_excursions_and_entry_signals() -> None:
    entry = fill("buy", 1, 100, 0.1, "USDT", client_order_id="tp-i1-e0", intent_id="i1",
                 timeframe="1h", bar_ts=pd.Timestamp("2025-01-01 09:00"))  # fmt: skip
    exit_ = fill("sell", 1, 104, 0.104, "USDT", 180, client_order_id="tp-i1-t0")
    row = trades(journal_of(entry, exit_), CANDLES, SIGNALS, ROLE_CODES).iloc[0]
    assert row["direction"] == "long" and row["is_closed"]
    assert row["holding_seconds"] == 3 * 3600
    assert row["exit_reason"] == "take_profit"
    assert (row["entry_price"], row["exit_price"]) == (100, 104)
    # highs 102, 106, 103, 105 and lows 97, 99, 98, 101 of the 10:00..13:00 bars
    assert row["mfe"] == pytest.approx(0.06) and row["mfe_price"] == 106
    assert row["mae"] == pytest.approx(-0.03) and row["mae_price"] == 97
    assert row["realized_pnl_net"] == pytest.approx(4 - 0.204)
    assert (row["entry_score"], row["entry_confidence"], row["entry_action"]) == (0.6, 0.7, "BUY")
    # (1 x 1 x 0.5 + 1 x 0.5 x -0.2) / (1 x 1 + 1 x 0.5): sentiment is not technical
    assert row["technical_score"] == pytest.approx(0.4 / 1.5)
    assert row["sentiment_score"] == 0.4 and row["regime"] == "trending_up_low_vol"
    assert row["volatility"] == pytest.approx(0.02)


def test_a_short_and_an_open_trade() -> None:
    short = journal_of(
        fill("sell", 1, 100, minutes=0, client_order_id="tp-i2-e0"),
        fill("buy", 1, 99, minutes=180, client_order_id="tp-i2-s0"),
        fill("buy", 2, 100, minutes=240),
    )
    rows = trades(short, CANDLES, SIGNALS.iloc[0:0], ROLE_CODES)
    first, still_open = rows.iloc[0], rows.iloc[1]
    assert first["direction"] == "short" and first["exit_reason"] == "stop_loss"
    assert first["mfe"] == pytest.approx(1 - 97 / 100) and first["mae"] == pytest.approx(-0.06)
    assert not still_open["is_closed"] and pd.isna(still_open["exit_reason"])
    assert math.isnan(still_open["holding_seconds"])
    # the open trade (entry 14:30) runs to the newest candle: the 14:00 bar closes at 15:00
    assert still_open["mfe"] == pytest.approx(0.2) and still_open["mae"] == pytest.approx(-0.2)
    assert pd.isna(first["entry_score"])


def test_exit_reasons_follow_our_client_order_ids() -> None:
    assert exit_reason("tp-abc123-x0", ROLE_CODES) == "exit"
    assert exit_reason("tp-abc123-r2", ROLE_CODES) == "trailing_stop"
    assert exit_reason("tp-abc123-q0", ROLE_CODES) == "external"
    assert exit_reason("web_8f3a", ROLE_CODES) == "external"
    assert exit_reason(None, ROLE_CODES) == "external"


def test_technical_score_and_excursions_edge_cases() -> None:
    assert math.isnan(technical_score(None))
    assert math.isnan(
        technical_score('{"sentiment": {"confidence": 1, "weight": 1, "normalised": 1}}')
    )
    assert excursions(1.0, 100.0, [100.0], [100.0]) == (0.0, 0.0, 100.0, 100.0)


def test_onchain_at_entry_is_point_in_time_and_fresh() -> None:
    day = pd.Timestamp("2025-01-01")
    metrics = pd.DataFrame(
        [
            {"asset": "BTC", "metric": "hash_rate", "available_at": day, "value": 1.0},
            {"asset": "BTC", "metric": "hash_rate", "available_at": day + pd.Timedelta(days=1),
             "value": 2.0},
            {"asset": "BTC", "metric": "difficulty", "available_at": day - pd.Timedelta(days=8),
             "value": 9.0},
            {"asset": "ETH", "metric": "hash_rate", "available_at": day, "value": 5.0},
        ]
    )  # fmt: skip
    assert json.loads(onchain_at(metrics, "btc", day + pd.Timedelta(hours=12))) == {
        "hash_rate": 1.0  # the next day's value is not known yet; difficulty is too old
    }
    assert onchain_at(metrics, "SOL", day) is None


def test_no_fills_no_trades() -> None:
    empty = build_journal(pd.DataFrame(columns=list(fill("buy", 1, 1))))
    assert empty.empty and {"fee_quote", "realized_pnl_net", "fee_unvalued"} <= set(empty)
    assert trades(empty, CANDLES, SIGNALS, ROLE_CODES).empty


# ------------------------------------------------------------------ real dbt build

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
WINDOW = (pd.Timestamp("2022-12-20"), pd.Timestamp("2023-01-10"))


def real_candles(symbol: str) -> pd.DataFrame:
    frame = pd.read_csv(SHARED / "market" / f"binance_{symbol.replace('/', '')}_1h.csv")
    frame["ts"] = pd.to_datetime(frame.pop("timestamp")).dt.tz_localize(None)
    frame = frame[(frame["ts"] >= WINDOW[0]) & (frame["ts"] < WINDOW[1])]
    return frame.assign(exchange="binance", symbol=symbol, timeframe="1h", source="replay")


def lake_fill(n: int, day: str, side: str, quantity: float, price: float, fee: float,
              currency: str, role: str, intent: str | None = None) -> dict:  # fmt: skip
    at = pd.Timestamp(f"{day} 10:30")
    return {
        "fill_id": f"binance:BTC/USDT:{n}", "exchange": "binance", "trade_id": str(n),
        "client_order_id": f"tp-{intent or f'x{n}'}-{ROLE_CODES[role]}0",
        "exchange_order_id": f"o{n}", "intent_id": intent, "strategy": "macd",
        "symbol": "BTC/USDT", "side": side, "quantity": quantity, "price": price, "fee": fee,
        "fee_currency": currency, "liquidity": "taker", "event_time": at, "mode": "paper",
        "published_at": at + pd.Timedelta(seconds=5), "batch_id": f"b{n}",
    }  # fmt: skip


def write_lake(home: Path, name: str, rows: list[dict], fee_prices: list | None) -> None:
    """Fills as the executor publishes them (its Parquet schema); ``fee_prices`` adds the
    exchange's BNB price column, which older files lack."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from executor.publish import FILLS_SCHEMA

    if fee_prices is not None:
        rows = [{**row, "fee_price": price} for row, price in zip(rows, fee_prices, strict=True)]
    table = pa.Table.from_pylist(rows, schema=FILLS_SCHEMA)
    if fee_prices is None:  # a batch from before the executor published fee prices
        table = table.drop_columns(["fee_price", "fee_quote"])
    folder = home / "lake" / "execution" / "fills" / f"date={rows[0]['event_time']:%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / f"{name}.parquet")


def intent(intent_id: str, day: str, side: str, action: str) -> dict:
    bar_ts = pd.Timestamp(f"{day} 09:00")
    return {
        "intent_id": intent_id, "strategy": "macd", "exchange": "binance",
        "symbol": "BTC/USDT", "timeframe": "1h", "bar_ts": bar_ts,
        "decided_at": bar_ts + pd.Timedelta(hours=1), "side": side, "action": action,
        "order_type": "market", "notional": None, "quantity": None, "limit_price": None,
        "reference_price": None, "stop_loss": None, "take_profit": None,
        "trailing_stop_pct": None, "reasons": "{}", "run_id": "r",
        "evaluated_at": bar_ts + pd.Timedelta(hours=1),
    }  # fmt: skip


@pytest.mark.integration
def test_a_dbt_build_journals_fees_in_every_currency(trading_home: Path) -> None:
    import duckdb

    from tests.dbt.test_incremental_signals import dbt
    from trading_core.warehouse import ensure_schema, replace_slice, table_columns

    btc, eth = real_candles("BTC/USDT"), real_candles("ETH/USDT")
    with duckdb.connect(str(trading_home / "warehouse.duckdb")) as conn:
        ensure_schema(conn)
        raw = pd.concat([btc, eth]).assign(ingested_at=pd.Timestamp("2023-02-01"))
        replace_slice(conn, "raw.ohlcv", raw[table_columns("raw.ohlcv")], "true")
        chain = pd.read_csv(SHARED / "onchain" / "blockchaincom_btc_hash_rate.csv")
        chain = chain.assign(
            asset="BTC",
            metric="hash_rate",
            ts=pd.to_datetime(chain["timestamp"]).dt.tz_localize(None),
            value=chain["hash_rate"],
            source="replay",
            ingested_at=pd.Timestamp("2023-02-01"),
        )
        replace_slice(
            conn, "raw.onchain_metrics", chain[table_columns("raw.onchain_metrics")], "true"
        )
        intents = pd.DataFrame(
            [intent("i1", "2023-01-02", "buy", "open"), intent("i2", "2023-01-03", "sell", "close")]
        )
        replace_slice(
            conn, "strategy.order_intents", intents[table_columns("strategy.order_intents")], "true"
        )
    write_lake(
        trading_home,
        "older",  # no fee_price column, as published today
        [
            lake_fill(1, "2023-01-02", "buy", 0.1, 16700.0, 0.0001, "BTC", "entry", "i1"),
            lake_fill(2, "2023-01-03", "sell", 0.0999, 16800.0, 1.67832, "USDT", "exit", "i2"),
            lake_fill(3, "2023-01-04", "buy", 0.1, 16850.0, 0.002, "ETH", "entry"),
        ],
        None,
    )
    write_lake(
        trading_home,
        "priced",
        [
            lake_fill(4, "2023-01-05", "sell", 0.1, 16830.0, 0.01, "BNB", "stop_loss"),
            lake_fill(5, "2023-01-06", "buy", 0.05, 16900.0, 0.001, "BNB", "entry"),
        ],
        [250.0, None],
    )
    dbt(trading_home, "build", "--select", "+fct_trades", "+fct_daily_pnl", "+fct_positions",
        "+fct_strategy_performance")  # fmt: skip

    eth_close = float(eth.loc[eth["ts"] == pd.Timestamp("2023-01-04 09:00"), "close"].iloc[0])
    with duckdb.connect(str(trading_home / "warehouse.duckdb"), read_only=True) as conn:
        journal = conn.execute("select * from journals.fct_trade_journal order by sequence").df()
        trips = conn.execute("select * from journals.fct_trades order by round_trip").df()
        positions = conn.execute("select * from journals.fct_positions").df()
        daily = conn.execute("select * from journals.fct_daily_pnl order by day").df()
        performance = conn.execute("select * from journals.fct_strategy_performance").df()
        curve = conn.execute("select * from journals.fct_equity_curve order by as_of").df()
        entry_signal = conn.execute(
            "select score, regime, atr_14 / close from signals.fct_signals where "
            "symbol = 'BTC/USDT' and timeframe = '1h' and ts = timestamp '2023-01-02 09:00'"
        ).fetchone()

    # fee in BTC (0.0001 x 16700), in USDT, in ETH at the 09:00 bar's close (known at
    # 10:00, before the 10:30 fill), in BNB at the fill's own price, then BNB unpriced
    assert journal["fee_quote"].iloc[:4].tolist() == pytest.approx(
        [1.67, 1.67832, 0.002 * eth_close, 2.5]
    )
    assert journal["fee_unvalued"].tolist() == [False, False, False, False, True]
    assert pd.isna(journal["fee_quote"].iloc[4]) and pd.isna(journal["realized_pnl_net"].iloc[4])
    assert journal["position_after"].tolist() == pytest.approx([0.0999, 0, 0.1, 0, 0.05])
    assert journal["realized_pnl_gross"].tolist() == pytest.approx([0, 9.99, 0, -2.0, 0])
    assert journal["realized_pnl_net"].iloc[1] == pytest.approx(9.99 - 1.67832)

    first, second = trips.iloc[0], trips.iloc[1]
    assert first["realized_pnl_net"] == pytest.approx(9.99 - 1.67 - 1.67832)
    assert second["realized_pnl_net"] == pytest.approx(-2.0 - 0.002 * eth_close - 2.5)
    assert (first["exit_reason"], second["exit_reason"]) == ("exit", "stop_loss")
    assert first["holding_seconds"] == 24 * 3600
    held = btc[(btc["ts"] + pd.Timedelta(hours=1) > pd.Timestamp("2023-01-02 10:30"))
               & (btc["ts"] <= pd.Timestamp("2023-01-03 10:30"))]  # fmt: skip
    assert first["mfe"] == pytest.approx(max(held["high"].max(), 16800) / 16700 - 1)
    assert first["mae"] == pytest.approx(min(held["low"].min(), 16700) / 16700 - 1)
    assert first["entry_score"] == pytest.approx(entry_signal[0])
    assert first["regime"] == entry_signal[1]
    assert first["volatility"] == pytest.approx(entry_signal[2])
    assert trips["is_closed"].tolist() == [True, True, False]
    # the 2023-01-01 value is known from 2023-01-02 00:00; the 2023-01-05 one from 01-06
    assert [json.loads(t) for t in trips["onchain_at_entry"]] == [
        {"hash_rate": 253145844.2},
        {"hash_rate": 253145844.2},
        {"hash_rate": 264405031.2},
    ]

    (open_position,) = positions.itertuples()
    assert open_position.quantity == pytest.approx(0.05) and open_position.fees_unvalued == 1
    assert pd.isna(open_position.realized_pnl_net)
    # the open book is the `manual` instance's (fills of no strategy intent): its own P&L;
    # the 9.99 belongs to the `default` instance's closed book (intents i1, i2)
    assert open_position.instance_id == "manual"
    assert open_position.realized_pnl_gross == pytest.approx(-2.0)

    by_day = daily.set_index(daily["day"].astype(str))
    assert by_day.loc["2023-01-02", "fee_quote"] == pytest.approx(1.67)
    assert by_day.loc["2023-01-05", "realized_pnl_net"] == pytest.approx(-2.0 - 2.5)
    assert pd.isna(by_day.loc["2023-01-06", "fee_quote"])
    assert by_day.loc["2023-01-06", "fees_unvalued"] == 1

    # one row per strategy instance: `default` won its trip, `manual` lost its one
    rows = performance.set_index("instance_id")
    assert rows["round_trips"].to_dict() == {"default": 1, "manual": 1}
    assert (rows.loc["default", "wins"], rows.loc["manual", "losses"]) == (1, 1)
    assert rows["realized_pnl_net"].sum() == pytest.approx(
        first["realized_pnl_net"] + second["realized_pnl_net"]
    )

    # equity counts the valued fees in quote and says how many it could not value
    last = curve.iloc[-1]
    valued_fees = 1.67 + 1.67832 + 0.002 * eth_close + 2.5
    assert last["net_realized_pnl"] == pytest.approx(9.99 - 2.0 - valued_fees)
    assert last["fees_unvalued"] == 1

    # the daily report reads the renamed columns from the tables dbt just built
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from assets.reports import build_daily_report_asset

    days = dg.DailyPartitionsDefinition(start_date="2022-12-01", end_date="2023-02-01")
    report = dg.materialize(
        [build_daily_report_asset(days, trading_home / "reports")],
        resources={"warehouse": DuckDBResource(database=str(trading_home / "warehouse.duckdb"))},
        partition_key="2023-01-02",
    )
    assert report.success
    text = (trading_home / "reports" / "daily_report_2023-01-02.md").read_text()
    assert "realized_pnl_gross" in text and "fee_quote" in text and "BTC" in text
