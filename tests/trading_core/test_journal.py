"""Trade-journal accounting: average cost, realized P&L gross and net of fees, round trips."""

from __future__ import annotations

import pandas as pd
import pytest

from trading_core.journal import build_journal
from trading_core.journal_trades import round_trips


def fills(*rows: tuple[str, float, float, float], mode: str = "paper") -> pd.DataFrame:
    start = pd.Timestamp("2025-01-01 00:00")
    return pd.DataFrame(
        [
            {
                "mode": mode, "exchange": "sim", "symbol": "BTC/USDT", "strategy": "macd",
                "side": side, "quantity": qty, "price": price, "fee": fee,
                "event_time": start + pd.Timedelta(minutes=i), "trade_id": str(i),
            }
            for i, (side, qty, price, fee) in enumerate(rows)
        ]
    )  # fmt: skip


def test_average_cost_moves_on_adds_and_realizes_on_reductions() -> None:
    journal = build_journal(
        fills(("buy", 1, 100, 0.1), ("buy", 1, 110, 0.11), ("sell", 1, 120, 0.12))
    )
    assert journal["average_cost_after"].tolist() == [100, 105, 105]
    assert journal["position_after"].tolist() == [1, 2, 1]
    assert journal["realized_pnl_gross"].tolist() == [0, 0, 15]
    assert journal["role"].tolist() == ["open", "add", "reduce"]
    assert journal["realized_pnl_net"].iloc[-1] == pytest.approx(15 - 0.12)


def test_a_fill_crossing_zero_is_split_into_close_and_open() -> None:
    journal = build_journal(fills(("buy", 2, 100, 0.2), ("sell", 3, 120, 0.36)))
    assert journal["role"].tolist() == ["open", "close", "open"]
    assert journal["quantity"].tolist() == [2, 2, 1]
    assert journal["fee"].tolist() == pytest.approx([0.2, 0.24, 0.12])
    assert journal["round_trip"].tolist() == [1, 1, 2]
    assert journal["position_after"].tolist() == [2, 0, -1]
    assert journal["realized_pnl_gross"].tolist() == [0, 40, 0]
    # the new short is carried at the fill price
    assert journal["average_cost_after"].iloc[-1] == 120


def test_round_trips_net_every_fee_and_mark_open_ones() -> None:
    journal = build_journal(
        fills(("buy", 1, 100, 0.1), ("sell", 1, 90, 0.09), ("buy", 1, 95, 0.095))
    )
    trips = round_trips(journal)
    assert trips["is_closed"].tolist() == [True, False]
    assert trips["realized_pnl_net"].iloc[0] == pytest.approx(-10 - 0.19)
    assert pd.isna(trips["closed_at"].iloc[1])


def test_paper_and_live_books_never_mix() -> None:
    both = pd.concat([fills(("buy", 1, 100, 0)), fills(("sell", 1, 130, 0), mode="live")])
    journal = build_journal(both)
    assert sorted(journal["role"]) == ["open", "open"]
    assert journal["realized_pnl_gross"].sum() == 0


def test_empty_fills_give_an_empty_journal_with_every_column() -> None:
    journal = build_journal(fills())
    assert journal.empty
    assert {
        "position_after",
        "realized_pnl_gross",
        "realized_pnl_net",
        "fee_quote",
        "role",
        "round_trip",
    } <= set(journal.columns)
    assert round_trips(journal).empty
