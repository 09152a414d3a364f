"""What every section of the trading configuration shares: the error type and the model.

``ConfigError`` is the one error a bad configuration raises (its message names the field and
what is allowed). ``SectionModel`` is the base of the sections: unknown keys, mutation, NaN and
infinity are refused. ``no_duplicates`` and ``check_timeframe`` are field validators several
sections use.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from trading_core.timeframes import TIMEFRAME_SECONDS


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the field and what is allowed."""


class SectionModel(BaseModel):
    # allow_inf_nan=False: NaN and infinity are refused in every float field.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def no_duplicates(value: list[str]) -> list[str]:
    repeated = sorted({item for item in value if value.count(item) > 1})
    if repeated:
        raise ValueError(f"duplicate entries {repeated}; list each one once")
    return value


def check_timeframe(value: str) -> str:
    if value not in TIMEFRAME_SECONDS:
        raise ValueError(f"unknown timeframe {value!r}; allowed: {list(TIMEFRAME_SECONDS)}")
    return value
