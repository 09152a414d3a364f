"""The paper broker's fee currency: what a paper fill pays its fee in.

``executor.paper_fee_currency`` in the configuration:

- ``currency: quote`` (default): the fee is a fraction of the traded value, in quote;
- ``currency: base``: the fee is taken from the asset received, as Binance spot charges
  without BNB: the base asset on a buy (the position receives ``quantity * (1 - rate)``),
  the quote on a sell (so an exit of the whole position leaves no base dust);
- ``currency: BNB`` (any other asset code) with ``price``: the fee's quote value divided by
  ``price`` (quote per unit of that asset, fixed), paid in that asset; neither base nor quote
  moves, and the ledger values the fee at ``price``.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

SPECIAL = ("quote", "base")
_ASSET = re.compile(r"^[A-Z0-9]{2,16}$")


class PaperFeeCurrency(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    currency: str = "quote"
    price: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _price_for_a_third_currency(self) -> PaperFeeCurrency:
        if self.currency in SPECIAL:
            if self.price is not None:
                raise ValueError(
                    f"price is only for a third fee currency, not for currency "
                    f"{self.currency!r}; allowed: currency quote | base | an asset code "
                    "such as BNB with price > 0"
                )
            return self
        if not _ASSET.match(self.currency):
            raise ValueError(
                f"currency {self.currency!r} is not allowed; allowed: quote | base | an "
                "upper-case asset code such as BNB"
            )
        if self.price is None:
            raise ValueError(
                f"price is required for fee currency {self.currency}: quote per "
                f"{self.currency}, > 0"
            )
        return self

    def asset(self, symbol: str, side: str) -> str:
        """The currency a paper fill of ``side`` on ``symbol`` pays its fee in."""
        base, quote = symbol.split("/", 1)[0], symbol.split("/", 1)[1].split(":", 1)[0]
        if self.currency == "quote":
            return quote
        if self.currency == "base":
            return base if side == "buy" else quote
        return self.currency

    def fee(self, symbol: str, side: str, quantity: float, price: float, rate: float) -> float:
        """The fee amount, in ``asset(symbol, side)``, of a fill at ``rate`` of its value."""
        asset = self.asset(symbol, side)
        value = abs(quantity * price) * rate
        if asset == symbol.split("/", 1)[0]:
            return abs(quantity) * rate
        if self.price is not None and asset == self.currency:
            return value / self.price
        return value
