"""Allocation limits: how much of the account's equity one asset, or one tagged class, may
hold, summed over every instance.

``ProtocolConfig.allocation.assets`` caps a base asset (defaults BTC 40 %, ETH 30 %);
``allocation.tags`` caps a named class or sector of assets (e.g. ``alts: {assets: [ADA,
XRP], max_fraction: 0.3}``). Exposure is the market value of the open positions. An entry
is reduced to the smallest headroom among the limits its asset falls under; with no room
left (below the minimum notional) it is refused, naming the limit. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from trading_core.config_portfolio import AllocationConfig


@dataclass(frozen=True)
class Headroom:
    rule: str  # "asset BTC 40%" / "tag alts 30%"
    limit: float  # quote value allowed in total
    used: float  # quote value held now
    room: float  # limit - used, never below 0


def base_asset(symbol: str) -> str:
    """``BTC`` of ``BTC/USDT``; a ValueError naming the symbol otherwise."""
    base, sep, quote = symbol.partition("/")
    if not sep or not base or not quote:
        raise ValueError(f"symbol {symbol!r}; allowed: BASE/QUOTE such as BTC/USDT")
    return base


def exposure_by_asset(values: Mapping[str, float]) -> dict[str, float]:
    """Market value per base asset from market value per symbol."""
    out: dict[str, float] = {}
    for symbol, value in values.items():
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"exposure of {symbol} must be a finite number >= 0, got {value!r}")
        asset = base_asset(symbol)
        out[asset] = out.get(asset, 0.0) + value
    return out


def headrooms(
    symbol: str, exposure: Mapping[str, float], equity: float, config: AllocationConfig
) -> list[Headroom]:
    """Every limit ``symbol``'s asset falls under, with its room (``exposure`` per asset)."""
    if not math.isfinite(equity) or equity < 0:
        raise ValueError(f"equity must be a finite number >= 0, got {equity!r}")
    asset = base_asset(symbol)
    rooms = []
    if asset in config.assets:
        limit = config.assets[asset] * equity
        used = exposure.get(asset, 0.0)
        rooms.append(
            Headroom(
                f"asset {asset} {config.assets[asset]:.0%}", limit, used, max(0.0, limit - used)
            )
        )
    for name in sorted(config.tags):
        tag = config.tags[name]
        if asset in tag.assets:
            limit = tag.max_fraction * equity
            used = sum(exposure.get(a, 0.0) for a in tag.assets)
            rooms.append(
                Headroom(f"tag {name} {tag.max_fraction:.0%}", limit, used, max(0.0, limit - used))
            )
    return rooms


def tightest(rooms: list[Headroom]) -> Headroom | None:
    """The limit with the least room (the first on a tie), or None without limits."""
    return min(rooms, key=lambda r: r.room) if rooms else None
