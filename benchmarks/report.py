"""Daily report build time with a year of trades (issue 17: <= 10 s).

A year (2023) of hourly trading on real Binance candles (../shared/data/market, BTC and ETH
1h) by three instances (``default`` on BTC, ``momentum`` on ETH, ``manual`` on BTC every
third day): each opens every ``--every`` hours and closes 3 hours later at the candle close,
0.1 % fee per side. From those fills the benchmark writes the journal tables the report reads
(fct_trade_journal, fct_trades, fct_daily_pnl, fct_positions, fct_equity_curve marked hourly,
stg_ohlcv) into a scratch DuckDB warehouse, then times:

- ``build``: trading_core.reports.build_report alone (chart data, rules, 3 PNGs), per period;
- ``asset``: the real reports/daily_report asset through ``dg.materialize`` for 2023-12-30
  with its daily, weekly and monthly reports (config ``periods``), queries and files included.

    .venv/bin/python benchmarks/report.py [--every 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MARKET = REPO.parent / "shared" / "data" / "market"
# the last full year of the files (they end on 2023-12-30)
START, END = pd.Timestamp("2023-01-01"), pd.Timestamp("2023-12-31")
DAY = date(2023, 12, 30)
FEE = 0.001
CASH = 10_000.0


def candles(symbol: str) -> pd.DataFrame:
    frame = pd.read_csv(MARKET / f"binance_{symbol.replace('/', '')}_1h.csv")
    frame["ts"] = pd.to_datetime(frame["timestamp"]).dt.tz_localize(None)
    frame = frame[(frame["ts"] >= START) & (frame["ts"] < END)].reset_index(drop=True)
    return frame.assign(available_at=frame["ts"] + pd.Timedelta(hours=1), symbol=symbol)


def trips_of(instance: str, bars: pd.DataFrame, every: int, offset: int) -> pd.DataFrame:
    opens = np.arange(offset, len(bars) - 4, every)
    if instance == "manual":
        opens = opens[(opens // 24) % 3 == 0]
    entry, exit_ = bars.loc[opens, "close"].to_numpy(), bars.loc[opens + 3, "close"].to_numpy()
    quantity = 100.0 / entry
    gross = (exit_ - entry) * quantity
    fees = FEE * quantity * (entry + exit_)
    return pd.DataFrame(
        {
            "mode": "paper", "exchange": "binance", "symbol": bars["symbol"].iloc[0],
            "strategy": instance, "opened_at": bars.loc[opens, "available_at"].to_numpy(),
            "closed_at": bars.loc[opens + 3, "available_at"].to_numpy(), "is_closed": True,
            "entry_price": entry, "exit_price": exit_, "entry_quantity": quantity,
            "realized_pnl_gross": gross, "fee_quote": fees, "realized_pnl_net": gross - fees,
            "exit_reason": np.where(gross < -0.5, "stop_loss", "exit"),
            "holding_seconds": 3 * 3600.0, "direction": "long", "mfe": 0.01, "mae": -0.01,
            "entry_action": "BUY", "entry_score": 0.3, "regime": "trend_up_low_vol",
            "open_bar": opens,
        }
    )  # fmt: skip


def journal_of(trips: pd.DataFrame) -> pd.DataFrame:
    common = ["mode", "exchange", "symbol", "strategy"]
    buys = trips[common].assign(
        event_time=trips["opened_at"], side="buy", quantity=trips["entry_quantity"],
        price=trips["entry_price"], fee_quote=FEE * trips["entry_quantity"] * trips["entry_price"],
        realized_pnl_gross=0.0, role="open",
    )  # fmt: skip
    sells = trips[common].assign(
        event_time=trips["closed_at"], side="sell", quantity=trips["entry_quantity"],
        price=trips["exit_price"], fee_quote=FEE * trips["entry_quantity"] * trips["exit_price"],
        realized_pnl_gross=trips["realized_pnl_gross"], role="close",
    )  # fmt: skip
    journal = pd.concat([buys, sells]).sort_values("event_time", kind="stable")
    return journal.assign(
        fee=journal["fee_quote"], fee_currency="USDT", fee_unvalued=False,
        realized_pnl_net=journal["realized_pnl_gross"] - journal["fee_quote"],
        slippage_bps=0.0, sequence=np.arange(len(journal)), reasons="{}",
    ).reset_index(drop=True)  # fmt: skip


def equity_curve(trips: pd.DataFrame, bars: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Hourly: cash + net realized P&L closed before each instant + open positions marked."""
    hours = pd.date_range(START + pd.Timedelta(hours=1), END, freq="h")
    equity = np.full(len(hours), CASH)
    for row in trips.itertuples():
        closes = bars[row.symbol].set_index("available_at")["close"]
        held = (hours > row.opened_at) & (hours <= row.closed_at)
        marks = closes.reindex(hours[held], method="ffill").fillna(row.entry_price)
        marks = marks.to_numpy()
        equity[held] += (marks - row.entry_price) * row.entry_quantity - row.fee_quote / 2
        equity[hours > row.closed_at] += row.realized_pnl_net
    return pd.DataFrame({"mode": "paper", "as_of": hours, "equity": equity})


def daily_of(curve: pd.DataFrame) -> pd.DataFrame:
    day = (curve["as_of"] - pd.Timedelta(microseconds=1)).dt.date
    end = curve.groupby(day)["equity"].last()
    return pd.DataFrame(
        {"mode": "paper", "day": end.index, "equity": end.to_numpy(),
         "pnl": np.diff(np.concatenate([[CASH], end.to_numpy()])), "realized_pnl_net": 0.0}
    )  # fmt: skip


def write_warehouse(path: Path, every: int) -> dict[str, int]:
    bars = {s: candles(s) for s in ("BTC/USDT", "ETH/USDT")}
    trips = pd.concat(
        [
            trips_of("default", bars["BTC/USDT"], every, 0),
            trips_of("momentum", bars["ETH/USDT"], every, 1),
            trips_of("manual", bars["BTC/USDT"], every, 2),
        ],
        ignore_index=True,
    )
    journal = journal_of(trips)
    curve = equity_curve(trips, bars)
    last = bars["BTC/USDT"].iloc[-1]
    positions = pd.DataFrame(
        [{"mode": "paper", "exchange": "binance", "symbol": "BTC/USDT", "strategy": "default",
          "quantity": 0.001, "average_cost": last["close"] * 0.99, "mark_price": last["close"],
          "marked_at": last["available_at"], "market_value": 0.001 * last["close"],
          "unrealized_pnl": 0.001 * last["close"] * 0.01}]
    )  # fmt: skip
    tables = {
        "journals.fct_trade_journal": journal,
        "journals.fct_trades": trips.drop(columns="open_bar").assign(onchain_at_entry=None),
        "journals.fct_equity_curve": curve,
        "journals.fct_daily_pnl": daily_of(curve),
        "journals.fct_positions": positions,
        "staging.stg_ohlcv": pd.concat(bars.values())[["symbol", "available_at", "close"]],
    }
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema journals; create schema staging")
        for name, frame in tables.items():
            conn.register("frame", frame)
            conn.execute(f"create table {name} as select * from frame")
            conn.unregister("frame")
    return {"round trips": len(trips), "fills": len(journal), "equity points": len(curve)}


def time_build(path: Path, repeats: int) -> list[tuple[str, float]]:
    from assets.reports import CONVENTIONS, read_inputs
    from trading_core.reports.build import build_report
    from trading_core.reports.window import window_for

    out = []
    for period in ("daily", "weekly", "monthly"):
        window = window_for(period, DAY)
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            with duckdb.connect(str(path), read_only=True) as conn:
                inputs = read_inputs(conn, window, path.parent / "alerts.jsonl")
            build_report(window, inputs, generated_at=window.end, conventions=CONVENTIONS)
            runs.append(time.perf_counter() - started)
        out.append((f"read + build, {period}", min(runs)))
    return out


def time_asset(path: Path, home: Path, repeats: int) -> float:
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from assets.reports import build_daily_report_asset
    from trading_core.reports.window import PERIODS

    days = dg.DailyPartitionsDefinition(start_date="2023-01-01", end_date="2024-01-01")
    asset = build_daily_report_asset(days, home / "reports")
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = dg.materialize(
            [asset],
            resources={"warehouse": DuckDBResource(database=str(path))},
            partition_key=DAY.isoformat(),
            run_config={"ops": {"reports__daily_report": {"config": {"periods": list(PERIODS)}}}},
        )
        runs.append(time.perf_counter() - started)
        assert result.success
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--every", type=int, default=4, help="hours between entries")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        path = home / "warehouse.duckdb"
        started = time.perf_counter()
        sizes = write_warehouse(path, args.every)
        print(f"set-up {time.perf_counter() - started:.1f} s: " + ", ".join(
            f"{v:,} {k}" for k, v in sizes.items()))  # fmt: skip
        rows = time_build(path, args.repeats)
        rows.append(
            ("dg.materialize 2023-12-30: daily + weekly + monthly", time_asset(path, home, 1))
        )
        print(f"\n| step (best of {args.repeats}; the asset once) | seconds |\n|---|---:|")
        for name, seconds in rows:
            print(f"| {name} | {seconds:.2f} |")
        print(f"\nwritten at {datetime.now():%Y-%m-%d %H:%M}; target <= 10 s")


if __name__ == "__main__":
    main()
