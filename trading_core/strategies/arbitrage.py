"""Cross-exchange spread arbitrage between two exchanges' closes, net of fees.

Bars carry ``close_a`` and ``close_b``: the same instrument on exchange A and B, aligned on
time (``spread_bars`` builds them). When B trades above A by more than the round-trip fees of
both legs plus ``min_edge_bps``, the strategy goes long A / short B; it closes when the spread
has come back to ``exit_edge_bps``. The position is backtested as one synthetic instrument
whose price is ``close_a / close_b`` (the value of long-A/short-B per unit): it gains exactly
when the spread narrows. Backtest it with ``fee = fee_a + fee_b`` (each side trades two legs).
Live execution needs two-leg orders on two venues, which the executor does not place yet.
"""

from __future__ import annotations

import pandas as pd
from pydantic import Field, model_validator

from trading_core.strategies.base import Strategy, StrategyParams, reasons


class ArbitrageParams(StrategyParams):
    fee_a: float = Field(0.001, ge=0, lt=0.1)
    fee_b: float = Field(0.001, ge=0, lt=0.1)
    min_edge_bps: float = Field(5.0, ge=0, le=10_000)
    exit_edge_bps: float = Field(0.0, ge=-10_000, le=10_000)

    @model_validator(mode="after")
    def _exit_below_entry(self) -> ArbitrageParams:
        if self.exit_edge_bps >= self.entry_spread_bps:
            raise ValueError(
                f"exit_edge_bps ({self.exit_edge_bps}) must be below the entry spread "
                f"({self.entry_spread_bps} bps = fees of both legs both ways + min_edge_bps)"
            )
        return self

    @property
    def entry_spread_bps(self) -> float:
        return 2.0 * (self.fee_a + self.fee_b) * 10_000.0 + self.min_edge_bps


def spread_bars(a: pd.DataFrame, b: pd.DataFrame, time_column: str = "ts") -> pd.DataFrame:
    """Bars of two exchanges joined on time: ``close_a``, ``close_b`` and the synthetic
    ``open``/``high``/``low``/``close`` = ``close_a / close_b`` (only closes are point in
    time for both venues, so the synthetic bar has no intrabar range)."""
    joined = a[[time_column, "close"]].merge(
        b[[time_column, "close"]], on=time_column, suffixes=("_a", "_b"), how="inner"
    )
    ratio = joined["close_a"] / joined["close_b"]
    return joined.assign(open=ratio, high=ratio, low=ratio, close=ratio).sort_values(
        time_column, ignore_index=True
    )


class ArbitrageStrategy(Strategy):
    name = "arbitrage"
    params_model = ArbitrageParams
    required_columns = ("close_a", "close_b", "open", "high", "low", "close")
    params: ArbitrageParams

    @property
    def warmup(self) -> int:
        return 0

    def compute(self, bars: pd.DataFrame) -> pd.DataFrame:
        p = self.params
        spread_bps = (bars["close_b"] / bars["close_a"] - 1.0) * 10_000.0
        entry = spread_bps > p.entry_spread_bps
        exit_ = spread_bps <= p.exit_edge_bps
        return pd.DataFrame(
            {
                "entry": entry,
                "exit": exit_,
                "reason": reasons(
                    entry,
                    exit_,
                    f"B over A by more than {p.entry_spread_bps:g} bps: long A / short B",
                    f"spread back to {p.exit_edge_bps:g} bps",
                ),
            }
        )
