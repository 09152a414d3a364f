"""The simulated symbols' levels, their price ticks, and the hash that seeds the simulator.

``symbol_profile`` gives BTC, ETH and SOL (in USD-like quotes) known levels and any other
symbol hash-derived ones; ``stable_hash`` is the process-independent hash every seed of the
simulated market (and of the replay backend's synthetic books) is drawn from.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

_USD_QUOTES = frozenset({"USDT", "USDC", "USD", "BUSD", "FDUSD", "TUSD", "DAI"})


@dataclass(frozen=True)
class SymbolProfile:
    """The levels a simulated symbol lives around."""

    center_price: float  # the log price reverts slowly towards this level
    daily_vol: float  # base daily log-return std (before regime and stochastic vol)
    quote_volume_per_minute: float  # typical traded value per minute, in quote currency
    tick: float  # price increment; candles and books are on this grid


_KNOWN_PROFILES: dict[str, SymbolProfile] = {
    "BTC": SymbolProfile(80_000.0, 0.025, 1_500_000.0, 0.01),
    "ETH": SymbolProfile(3_000.0, 0.032, 800_000.0, 0.01),
    "SOL": SymbolProfile(150.0, 0.045, 300_000.0, 0.001),
}


def stable_hash(*parts: object) -> int:
    """A 63-bit hash stable across processes (``hash()`` is salted per process)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") >> 1


def tick_for_price(price: float) -> float:
    """A plausible price increment: about six significant digits."""
    return 10.0 ** (math.floor(math.log10(price)) - 5)


def decimals(increment: float) -> int:
    """Decimal places that represent multiples of ``increment`` (0.01 -> 2, 0.05 -> 2, 5 -> 0);
    rounding to them rather than multiplying by the increment keeps the floats clean."""
    return max(0, math.ceil(-math.log10(increment) - 1e-9))


def symbol_profile(symbol: str) -> SymbolProfile:
    """Known levels for BTC, ETH, SOL in USD-like quotes; hash-derived ones for anything else."""
    base, _, rest = symbol.partition("/")
    quote = rest.split(":", 1)[0]
    if base in _KNOWN_PROFILES and quote in _USD_QUOTES:
        return _KNOWN_PROFILES[base]
    h = stable_hash("profile", symbol)
    u = [((h >> (16 * i)) & 0xFFFF) / 0xFFFF for i in range(3)]
    center = 10.0 ** (-1.0 + 4.0 * u[0])  # 0.1 .. 1000
    return SymbolProfile(
        center_price=center,
        daily_vol=0.035 + 0.04 * u[1],
        quote_volume_per_minute=10.0 ** (4.5 + u[2]),
        tick=tick_for_price(center) / 10.0,
    )
