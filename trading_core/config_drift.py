"""Drift bounds: the ``drift:`` section of the trading configuration.

``reports/drift`` compares what each instance traded in a day with what the backtest of the
same day would have done (``trading_core.reports.drift``). A day is out of bounds, which
fails the asset's check and raises an alert, when any of these holds:

- ``max_missed_trades`` / ``max_extra_trades``: more trades the backtest made and the
  instance did not (or the other way round) than allowed; default 0, so any one breaches;
- ``entry_slippage_multiple``: the mean entry slippage (the entry price against the signal
  bar's close, in basis points, against the trader) above this multiple of the configured
  slippage (``fees.slippage_bps``), and never below ``min_entry_slippage_bps`` (with the
  default slippage of 0 the bound would be 0 and the last bit of a float would breach it);
- ``max_pnl_diff_pct``: the P&L difference (traded less backtested) above this percentage of
  the instance's equity, in either direction.

``late_fill_seconds`` decides when a fill is late (its time after the close of the bar that
decided it); a late fill is named as the cause of the price difference it made.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from trading_core.config_alerts import AlertLevel


class DriftConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    max_missed_trades: int = Field(default=0, ge=0, le=10_000)
    max_extra_trades: int = Field(default=0, ge=0, le=10_000)
    entry_slippage_multiple: float = Field(default=2.0, gt=0, le=1_000)
    min_entry_slippage_bps: float = Field(default=1.0, ge=0, le=10_000)
    max_pnl_diff_pct: float = Field(default=0.5, gt=0, le=100)
    late_fill_seconds: float = Field(default=60.0, gt=0, le=7 * 86_400)
    # The alert's level when a day is out of bounds.
    alert_level: AlertLevel = "WARNING"

    def slippage_bound_bps(self, configured_bps: float) -> float:
        """The mean entry slippage a day may reach (basis points)."""
        return max(self.entry_slippage_multiple * configured_bps, self.min_entry_slippage_bps)
