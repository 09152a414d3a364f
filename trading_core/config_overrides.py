"""The operator overrides' limits: the ``overrides`` section of the trading configuration.

``trading control set-risk`` scales the risk per trade the protocol sizes entries with.
Without ``allow_above_tier`` the scale can only lower it (at most 1.0, the tier's own
``risk_per_trade``); with it, up to ``max_scale`` times the tier's. Timed overrides
(``--for`` / ``--until``) last at most ``max_duration_hours``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OverridesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # Risk per trade above the tier's risk_per_trade (a scale above 1) only when true.
    allow_above_tier: bool = False
    # The largest scale set-risk accepts when allow_above_tier is true.
    max_scale: float = Field(default=2.0, ge=1.0, le=10.0)
    # The longest --for / --until of an override.
    max_duration_hours: float = Field(default=24.0 * 30, gt=0, le=24.0 * 365)

    @property
    def scale_cap(self) -> float:
        """The largest scale set-risk may apply: 1.0 unless above-tier risk is allowed."""
        return self.max_scale if self.allow_above_tier else 1.0
