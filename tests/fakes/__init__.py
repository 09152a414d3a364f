"""Local fake servers that real client libraries talk to in tests (no network).

Binance: ``FakeBinance`` serves a faithful subset of the Binance spot REST API on 127.0.0.1;
``make_ccxt_client`` builds a real ``ccxt.binance`` pointed at it; ``FakeBinanceProcess``
runs the fake in its own process and ``RemoteFakeBinance`` drives it there.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Resolved on first use: ``python -m tests.fakes.binance_server`` imports this package
# before running the module, and an eager import here would load that module twice.
_EXPORTS = {
    "FakeBinance": "tests.fakes.binance_server",
    "make_ccxt_client": "tests.fakes.binance_server",
    "FakeBinanceProcess": "tests.fakes.binance_remote",
    "RemoteFakeBinance": "tests.fakes.binance_remote",
    "FAULTS": "tests.fakes.faults",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tests.fakes' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
