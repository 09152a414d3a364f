"""The ``fees`` and ``executor`` sections: how orders are priced and handled.

Fees and slippage of the paper broker and the backtests; the executor's mode and exchange,
order handling (repricing, lost answers), stale-intent expiry, the ledger lease, the order-rate
throttle, native protective orders and the Dagster webserver it reports to.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from trading_core.config_base import SectionModel
from trading_core.config_fees import PaperFeeCurrency

ExecutorMode = Literal["paper", "testnet", "live"]


class FeesConfig(SectionModel):
    maker: float = Field(default=0.001, ge=0, lt=0.1)
    taker: float = Field(default=0.001, ge=0, lt=0.1)
    slippage_bps: float = Field(default=0.0, ge=0)
    max_slippage_bps: float = Field(default=50.0, ge=0)


class ExecutorConfig(SectionModel):
    mode: ExecutorMode = "paper"
    exchange: str = "sim"
    quote_currency: str = "USDT"
    starting_cash: float = Field(default=500.0, gt=0)
    tick_seconds: float = Field(default=1.0, gt=0)
    reconcile_every_ticks: int = Field(default=60, ge=1)
    # Order handling (not risk limits): an unfilled limit order is repriced after
    # limit_timeout_seconds, at most max_reprices times; an order whose answer was lost is
    # queried by client order id after unknown_order_grace_seconds, and given up after
    # max_unknown_lookups "not found" answers.
    limit_timeout_seconds: float = Field(default=300.0, ge=0)
    max_reprices: int = Field(default=3, ge=0)
    unknown_order_grace_seconds: float = Field(default=10.0, ge=0)
    max_unknown_lookups: int = Field(default=5, ge=1)
    post_only_limits: bool = False
    # Stale entries never fire: an entry older than max_intent_age_seconds on the market
    # clock (None: one bar of its timeframe plus intent_grace_seconds) expires, and so does
    # one whose market price moved more than max_price_deviation (a fraction) from the
    # intent's reference price. A decided_at more than clock_skew_seconds in the future is
    # invalid. Exits are never expired (they only reduce exposure): a late one is flagged.
    max_intent_age_seconds: float | None = Field(default=None, gt=0)
    intent_grace_seconds: float = Field(default=30.0, ge=0)
    max_price_deviation: float = Field(default=0.02, gt=0, le=1)
    clock_skew_seconds: float = Field(default=5.0, ge=0)
    # The ledger lease (one executor per ledger): renewed every lease_seconds / 3; a holder
    # silent for lease_seconds may be taken over.
    lease_seconds: float = Field(default=15.0, ge=2, le=600)
    # Order-rate throttle per exchange, below its published limits (Binance spot: 50 orders per
    # 10 s): entries beyond it wait for the next tick; exits are never delayed.
    max_orders_per_second: int = Field(default=5, ge=1, le=1000)
    max_orders_per_minute: int = Field(default=100, ge=1, le=60_000)
    # Native protective orders (executor.backstop): where the exchange supports them, a
    # stop-limit (or an OCO with the take-profit) rests on the exchange behind the executor's
    # own levels, backstop_margin_pct wider, so that stops survive the host: its limit sits
    # backstop_limit_offset_pct below its trigger, and a trailing stop replaces it once the
    # level moved by more than backstop_step_pct.
    native_stops: bool = True
    backstop_margin_pct: float = Field(default=0.01, gt=0, lt=1)
    backstop_limit_offset_pct: float = Field(default=0.01, ge=0, lt=1)
    backstop_step_pct: float = Field(default=0.0025, ge=0, lt=1)

    @model_validator(mode="after")
    def _step_below_margin(self) -> ExecutorConfig:
        if self.backstop_step_pct >= self.backstop_margin_pct:
            raise ValueError(
                f"backstop_step_pct ({self.backstop_step_pct}) must be below "
                f"backstop_margin_pct ({self.backstop_margin_pct}); allowed: "
                "0 <= backstop_step_pct < backstop_margin_pct"
            )
        return self

    paper_latency_ms: float = Field(default=0.0, ge=0)
    # What a paper fill pays its fee in (trading_core.config_fees): quote | base | BNB + price.
    paper_fee_currency: PaperFeeCurrency = PaperFeeCurrency()
    # Dagster webserver for REST reports of execution/orders and execution/fills.
    dagster_url: str = "http://127.0.0.1:3000"

    @field_validator("dagster_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        try:
            port_ok = parts.port is None or parts.port > 0
        except ValueError:  # not a number or out of range
            port_ok = False
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or not port_ok
            or parts.username is not None
            or parts.query
            or parts.fragment
            or any(c.isspace() for c in value)
        ):
            raise ValueError(
                "not a Dagster webserver URL; allowed: http(s)://host[:port][/path-prefix], "
                "e.g. http://127.0.0.1:3000"
            )
        return value
