"""The drift report's pure parts: trade matching and causes, the bounds, round trips rebuilt
from ledger rows (hostile rows included), the ``drift:`` configuration and ledger reads."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.reports.paper_window import CONFIG
from trading_core.backtest import TRADE_COLUMNS
from trading_core.config import ConfigError, load_config
from trading_core.config_drift import DriftConfig
from trading_core.reports.drift import DriftInputs, compare, summarize
from trading_core.reports.drift_ledger import LedgerFrames, LedgerReadError, read_ledger
from trading_core.reports.drift_live import (
    FILL_COLUMNS,
    INTENT_COLUMNS,
    ORDER_COLUMNS,
    LiveTrade,
    live_trades,
)
from trading_core.reports.drift_run import DriftSetup, drift_report

BAR = datetime(2025, 3, 3, 4)
HOUR = timedelta(hours=1)


def bt_trade(entry: datetime, price: float = 100.0, exit_price: float = 101.0, **over) -> dict:
    qty = 5.0
    row = {
        "entry_ts": pd.Timestamp(entry), "exit_ts": pd.Timestamp(entry + 3 * HOUR),
        "entry_price": price, "exit_price": exit_price, "quantity": qty,
        "cost": qty * price * 1.001, "proceeds": qty * exit_price * 0.999,
        "entry_fee": qty * price * 0.001, "exit_fee": qty * exit_price * 0.001,
        "pnl": qty * exit_price * 0.999 - qty * price * 1.001, "return": 0.0, "bars_held": 3,
        "entry_reason": "in", "exit_reason": "signal",
    }  # fmt: skip
    row.update(over)
    return row


def live(bar: datetime | None, price: float = 100.0, **over) -> LiveTrade:
    trade = LiveTrade("default", "BTC/USDT", "i1", bar, (bar or BAR) + HOUR + timedelta(seconds=5))
    trade.entry_value, trade.quantity, trade.entry_price = 2.5 * price, 2.5, price
    trade.entry_fee, trade.entry_lag_seconds = 2.5 * price * 0.001, 5.0
    trade.exit_value = trade.exit_quantity = 0.0
    for key, value in over.items():
        setattr(trade, key, value)
    return trade


def close_trade(trade: LiveTrade, price: float, role: str = "exit") -> LiveTrade:
    trade.exit_value, trade.exit_quantity, trade.exit_price = (
        trade.quantity * price,
        trade.quantity,
        price,
    )
    trade.exit_fee, trade.exit_role = trade.exit_value * 0.001, role
    trade.exit_time, trade.exit_lag_seconds = trade.entry_time + 3 * HOUR, 5.0
    return trade  # fmt: skip


def intents(*rows: tuple[datetime, str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"intent_id": f"i{n}", "instance_id": "default", "symbol": "BTC/USDT",
             "timeframe": "1h", "bar_ts": bar, "decided_at": bar + HOUR, "action": "open",
             "notional": 250.0, "reference_price": 100.0, "status": status,
             "status_reason": why}
            for n, (bar, status, why) in enumerate(rows)
        ],
        columns=list(INTENT_COLUMNS),
    )  # fmt: skip


def inputs(bt: list[dict], trades: list[LiveTrade], known: pd.DataFrame | None = None,
           open_trade: dict | None = None) -> DriftInputs:  # fmt: skip
    closes = pd.Series({pd.Timestamp(BAR + i * HOUR): 100.0 for i in range(-2, 24)})
    return DriftInputs(
        "default", "BTC/USDT", "1h", pd.DataFrame(bt, columns=TRADE_COLUMNS), open_trade,
        trades, known if known is not None else intents(), closes, 250.0, 60.0,
    )  # fmt: skip


def test_a_partial_fill_and_an_exit_by_another_rule_are_named() -> None:
    trade = close_trade(live(BAR, 100.2, entry_partial=True), 97.0, role="stop_loss")
    (row,) = compare(inputs([bt_trade(BAR)], [trade])).to_dict("records")
    assert row["status"] == "matched" and row["entry_cause"] == "partial fill"
    assert row["entry_diff_bps"] == pytest.approx(20.0)
    assert row["exit_cause"] == "exit by stop_loss (the backtest by signal)"
    # the backtest scaled to the traded 2.5 of its 5: P&L and fees compared like for like
    assert row["backtest_pnl"] == pytest.approx(bt_trade(BAR)["pnl"] / 2)
    assert row["pnl_diff"] == pytest.approx(trade.pnl - bt_trade(BAR)["pnl"] / 2)


def test_missed_trades_name_the_intents_fate() -> None:
    bars = [BAR, BAR + 5 * HOUR, BAR + 10 * HOUR]
    known = intents((bars[0], "REJECTED_BY_RISK", "max_open_positions"), (bars[1], "DONE", "x"))
    rows = compare(inputs([bt_trade(b) for b in bars], [], known)).to_dict("records")
    assert [r["cause"] for r in rows] == ["rejected by risk", "not filled", "no intent"]
    assert "max_open_positions" in rows[0]["detail"]
    # scaled to the intent's notional (250 of a 500.5 backtest cost)
    assert rows[0]["backtest_pnl"] == pytest.approx(bt_trade(BAR)["pnl"] * 250 / 500.5)
    assert rows[0]["pnl_diff"] == pytest.approx(-rows[0]["backtest_pnl"])


def test_extra_trades_name_why_the_backtest_had_none() -> None:
    spanning = bt_trade(BAR)  # held from 04:00 to 07:00
    manual = live(BAR + 8 * HOUR, instance="manual")
    rows = compare(inputs([spanning], [live(BAR + HOUR), live(BAR + 12 * HOUR), manual])).to_dict(
        "records"
    )
    causes = {r["signal_bar"].hour: r["cause"] for r in rows if r["status"] == "extra"}
    assert causes == {5: "backtest in a position", 16: "no backtest signal", 12: "manual"}


def test_an_open_backtest_trade_is_compared_by_its_entry() -> None:
    opened = {"entry_ts": pd.Timestamp(BAR), "entry_price": 100.0, "quantity": 5.0,
              "cost": 500.5, "entry_fee": 0.5}  # fmt: skip
    trade = close_trade(live(BAR), 101.0)
    (row,) = compare(inputs([], [trade], open_trade=opened)).to_dict("records")
    assert row["status"] == "matched" and row["pnl_diff"] is None
    assert row["exit_cause"] == "exit by exit (the backtest still holds)"


def test_the_bounds_and_their_defaults() -> None:
    bounds = DriftConfig()
    assert bounds.slippage_bound_bps(0.0) == 1.0  # the floor
    assert bounds.slippage_bound_bps(5.0) == 10.0  # 2x the configured slippage
    rows = compare(inputs([bt_trade(BAR)], [close_trade(live(BAR, 100.05), 101.0)]))
    ok = summarize("default", "w", rows, equity=1000.0, bounds=bounds, slippage_bps=5.0)
    assert ok.breaches == () and ok.mean_entry_slippage_bps == pytest.approx(5.0)
    tight = summarize("default", "w", rows, equity=1000.0, bounds=bounds, slippage_bps=2.0)
    assert tight.breaches == ("mean entry slippage 5.00 bps above 4.00 bps",)
    small = summarize("default", "w", rows, equity=10.0, bounds=bounds, slippage_bps=5.0)
    assert small.breaches[0].startswith("P&L difference")
    for equity in (0.0, -5.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="equity must be a finite number > 0"):
            summarize("default", "w", rows, equity=equity, bounds=bounds, slippage_bps=0.0)


def _rows(table: tuple[str, ...], *rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(table))


def fill(n: int, side: str, qty: float, px: float, order: str, **over) -> dict:
    row = {"id": n, "instance_id": "default", "symbol": "BTC/USDT", "side": side,
           "quantity": qty, "price": px, "fee_quote": qty * px * 0.001,
           "event_time": BAR + HOUR + timedelta(minutes=n), "client_order_id": order,
           "intent_id": "e" if side == "buy" else "x"}  # fmt: skip
    return {**row, **over}


ORDERS = _rows(
    ORDER_COLUMNS,
    {"client_order_id": "oe", "intent_id": "e", "role": "entry", "quantity": 2.0,
     "filled_quantity": 1.5, "state": "CANCELED", "attempt": 0},
    {"client_order_id": "ox", "intent_id": "x", "role": "exit", "quantity": 1.5,
     "filled_quantity": 1.5, "state": "FILLED", "attempt": 0},
)  # fmt: skip
INTENTS = _rows(
    INTENT_COLUMNS,
    {"intent_id": "e", "instance_id": "default", "symbol": "BTC/USDT", "timeframe": "1h",
     "bar_ts": BAR, "decided_at": BAR + HOUR, "action": "open", "notional": 200.0,
     "reference_price": 100.0, "status": "DONE", "status_reason": ""},
    {"intent_id": "x", "instance_id": "default", "symbol": "BTC/USDT", "timeframe": "1h",
     "bar_ts": BAR + 3 * HOUR, "decided_at": BAR + 4 * HOUR, "action": "close",
     "notional": None, "reference_price": 101.0, "status": "DONE", "status_reason": ""},
)  # fmt: skip


def test_round_trips_from_ledger_rows_skip_what_is_not_ours() -> None:
    fills = _rows(
        FILL_COLUMNS,
        fill(1, "sell", 1.0, 99.0, "ox"),  # a sell while flat: nothing to close
        fill(2, "buy", 1.0, 100.0, "oe"),
        fill(3, "buy", 0.5, 100.6, "oe"),
        fill(4, "buy", 9.0, 100.0, "someone-else"),  # no order of ours
        fill(5, "sell", 1.5, 101.0, "ox", event_time=BAR + 4 * HOUR + timedelta(minutes=2)),
    )
    (trade,) = live_trades(fills, ORDERS, INTENTS)
    assert trade.closed and trade.entry_partial and trade.quantity == pytest.approx(1.5)
    assert trade.entry_price == pytest.approx((100.0 + 0.5 * 100.6) / 1.5)
    assert trade.signal_bar == BAR and trade.entry_lag_seconds == pytest.approx(120.0)
    assert trade.exit_signal_bar == BAR + 3 * HOUR and trade.exit_lag_seconds == pytest.approx(120)
    fees = (100.0 + 0.5 * 100.6 + 1.5 * 101.0) * 0.001
    assert trade.pnl == pytest.approx(1.5 * 101.0 - (100.0 + 0.5 * 100.6) - fees)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"price": float("nan")}, "fill 2 price is not a finite number"),
        ({"quantity": "lots"}, "fill 2 quantity is not a number"),
        ({"quantity": -1.0}, "fill 2: quantity and price must be > 0"),
        ({"fee_quote": float("inf")}, "fee_quote is not a finite number"),
    ],
)
def test_hostile_fill_rows_are_refused_naming_the_fill(bad: dict, message: str) -> None:
    fills = _rows(FILL_COLUMNS, fill(2, "buy", 1.0, 100.0, "oe", **bad))
    with pytest.raises(ValueError, match=message):
        live_trades(fills, ORDERS, INTENTS)


def test_a_fee_without_a_quote_value_counts_zero_and_is_flagged() -> None:
    fills = _rows(FILL_COLUMNS, fill(2, "buy", 1.0, 100.0, "oe", fee_quote=None))
    (trade,) = live_trades(fills, ORDERS, INTENTS)
    assert trade.entry_fee == 0.0 and trade.fees_unvalued == 1 and not trade.closed


def test_a_frame_without_a_column_names_it() -> None:
    with pytest.raises(ValueError, match=r"the ledger's fills lack the column\(s\) \['price'\]"):
        live_trades(_rows(FILL_COLUMNS).drop(columns="price"), ORDERS, INTENTS)


@pytest.mark.parametrize(
    ("yaml", "field"),
    [
        ("drift:\n  max_pnl_diff_pct: .nan\n", "drift.max_pnl_diff_pct"),
        ("drift:\n  max_pnl_diff_pct: -1\n", "drift.max_pnl_diff_pct"),
        ("drift:\n  max_missed_trades: many\n", "drift.max_missed_trades"),
        ("drift:\n  max_missed_trades: -1\n", "drift.max_missed_trades"),
        ("drift:\n  entry_slippage_multiple: 0\n", "drift.entry_slippage_multiple"),
        ("drift:\n  late_fill_seconds: 1e30\n", "drift.late_fill_seconds"),
        ("drift:\n  alert_level: LOUD\n", "drift.alert_level"),
        ("drift:\n  max_slippage: 3\n", "drift.max_slippage"),
    ],
)
def test_drift_bounds_are_checked_naming_the_field(tmp_path: Path, yaml: str, field: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(yaml)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config(path, environ={"TRADING_HOME": str(tmp_path)})


def test_the_defaults_are_the_issues() -> None:
    drift = load_config(environ={"TRADING_HOME": "/tmp/x"}).drift
    assert (drift.max_missed_trades, drift.max_extra_trades) == (0, 0)
    assert drift.entry_slippage_multiple == 2.0 and drift.max_pnl_diff_pct == 0.5


def test_a_database_that_is_not_a_ledger_is_refused(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'other.sqlite'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("create table fills (id integer)")
    engine.dispose()
    with pytest.raises(LedgerReadError, match=r"not a ledger: it has no table\(s\)"):
        read_ledger(f"sqlite:///{tmp_path / 'other.sqlite'}", BAR)
    with pytest.raises(LedgerReadError, match="the ledger URL is not usable"):
        read_ledger("nosuchdialect://x", BAR)


def test_a_hostile_ledger_row_gives_no_report_rather_than_a_wrong_one() -> None:
    fills = _rows(FILL_COLUMNS, fill(2, "buy", 1.0, float("nan"), "oe"))
    frames = LedgerFrames(INTENTS, ORDERS, fills, {}, "paper")
    setup = DriftSetup.from_config(CONFIG, "sqlite://")
    with pytest.raises(LedgerReadError, match="cannot be read as trades: fill 2 price"):
        drift_report(setup, frames, lambda *a: pd.DataFrame(), BAR, BAR + 24 * HOUR)


def test_a_limit_entry_matches_the_backtests_fill_a_bar_later() -> None:
    limit = close_trade(live(BAR, 99.5, entry_limit=True), 101.0)
    market = close_trade(live(BAR + 6 * HOUR, 100.0), 101.0)  # a market entry: no shift
    bt = [bt_trade(BAR + HOUR, 99.5), bt_trade(BAR + 7 * HOUR)]
    rows = compare(inputs(bt, [limit, market])).to_dict("records")
    assert [(r["signal_bar"].hour, r["status"]) for r in rows] == [
        (4, "matched"), (10, "extra"), (11, "missed"),
    ]  # fmt: skip
    assert rows[0]["entry_diff_bps"] == pytest.approx(0.0) and pd.isna(rows[0]["entry_cause"])
    assert rows[2]["cause"] == "no intent"
