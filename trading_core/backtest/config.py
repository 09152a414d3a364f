"""Backtest conventions: fills, fees, slippage, stops. Defaults match vectorbt's
``Portfolio.from_signals`` (fill at the signal bar's close, 0.1 % per side, no slippage, no
stops, an open position valued at the last close)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from trading_core.fills import FillConventions

if TYPE_CHECKING:  # the platform config (pandas, every model) only for the annotation
    from trading_core.config import FeesConfig


class BacktestConfig(BaseModel):
    """How fills happen. Every field is stated in each result's header.

    - ``fill``: "close" fills a signal at its bar's close; "next_open" at the next bar's open.
    - ``fee``: taker fee (market orders, stop-losses); ``maker_fee``: resting limit orders and
      take-profits (defaults to ``fee``). Both a fraction of traded value, on entry and exit.
    - ``slippage_bps``: against the trader on market fills (not on limit fills).
    - ``stop_loss_pct`` / ``take_profit_pct`` / ``trailing_stop_pct``: fractions of the entry
      price, used when the strategy sets no level itself; evaluated intrabar, stop first.
    - ``stops_from``: for a ``next_open`` market entry, "fill" (default, the behaviour so far)
      checks stop-loss / take-profit / trailing stop on the fill bar itself (the open
      precedes the bar's range); "next" from the following bar, the usual convention.
      Close and limit fills always start checking on the following bar.
    - ``warmup``: bars before the window (``trade_from``) that feed the indicators:
      "auto" (``strategy.warmup_bars``), "cold" (none), an integer, or "all" (every bar
      given; the default here, the CLI's default is "auto"). See ``backtest.warmup``.
    - ``close_at_end``: sell an open position at the last close (paying fee and slippage)
      instead of valuing it there; walk-forward folds use it so folds chain honestly.
    - ``bars_per_year``: annualisation; inferred from the median bar spacing when None.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    initial_cash: float = Field(10_000.0, gt=0)
    fill: Literal["close", "next_open"] = "close"
    fee: float = Field(0.001, ge=0, lt=0.1)
    maker_fee: float | None = Field(None, ge=0, lt=0.1)
    slippage_bps: float = Field(0.0, ge=0, le=10_000)
    stop_loss_pct: float | None = Field(None, gt=0, lt=1)
    take_profit_pct: float | None = Field(None, gt=0)
    trailing_stop_pct: float | None = Field(None, gt=0, lt=1)
    stops_from: Literal["fill", "next"] = "fill"
    warmup: Literal["all", "auto", "cold"] | Annotated[int, Field(ge=0)] = "all"
    close_at_end: bool = False
    bars_per_year: float | None = Field(None, gt=0)

    @property
    def maker(self) -> float:
        return self.fee if self.maker_fee is None else self.maker_fee

    @property
    def fills(self) -> FillConventions:
        return FillConventions(
            price=self.fill,
            taker_fee=self.fee,
            maker_fee=self.maker,
            slippage_bps=self.slippage_bps,
        )

    @classmethod
    def from_fees(cls, fees: FeesConfig, **overrides: object) -> BacktestConfig:
        """The platform's configured fees and slippage (``TradingConfig.fees``)."""
        values = {"fee": fees.taker, "maker_fee": fees.maker, "slippage_bps": fees.slippage_bps}
        return cls.model_validate({**values, **overrides})
