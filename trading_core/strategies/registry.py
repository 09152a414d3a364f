"""The strategy registry: names -> classes, and the one constructor everyone uses.

``STRATEGIES`` holds the built-ins, the user strategies registered from a file
(``register_strategy_file``) and, by name, the strategies installed packages expose under the
entry point group ``trading_pipelines.strategies`` (imported the first time they are asked
for, so a broken plugin breaks only itself). Everything that takes a strategy name - backtest,
sweep, replay, the analysis tools, ``strategies:`` instances - looks it up here, so a user
strategy runs exactly like a built-in. A user strategy may not take a built-in's name.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from trading_core.strategies import loader
from trading_core.strategies.arbitrage import ArbitrageStrategy
from trading_core.strategies.base import Strategy, StrategyError
from trading_core.strategies.composite import CompositeStrategy
from trading_core.strategies.grid import GridStrategy
from trading_core.strategies.macd import MacdStrategy
from trading_core.strategies.scalping import ScalpingStrategy
from trading_core.strategies.swing import SwingStrategy

BUILTIN_STRATEGIES: tuple[type[Strategy], ...] = (
    MacdStrategy,
    GridStrategy,
    SwingStrategy,
    CompositeStrategy,
    ScalpingStrategy,
    ArbitrageStrategy,
)


@functools.cache
def _installed() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=loader.ENTRY_POINT_GROUP)}


def refresh_entry_points() -> None:
    """Forget the cached entry points (after installing a plugin in a running process)."""
    _installed.cache_clear()


class StrategyRegistry(Mapping[str, type[Strategy]]):
    """Built-in, file-registered and entry-point strategies by name."""

    def __init__(self, builtins: tuple[type[Strategy], ...]) -> None:
        self._classes: dict[str, type[Strategy]] = {cls.name: cls for cls in builtins}
        self._builtin = frozenset(self._classes)
        self._origins: dict[str, str] = {}

    def __getitem__(self, name: str) -> type[Strategy]:
        if name in self._classes:
            return self._classes[name]
        entry_point = _installed().get(name)
        if entry_point is None:
            raise KeyError(name)
        cls = loader.load_entry_point(entry_point)
        return self.register(cls, f"entry point {entry_point.name} = {entry_point.value}")

    def __contains__(self, name: object) -> bool:
        return name in self._classes or name in _installed()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(set(self._classes) | set(_installed())))

    def __len__(self) -> int:
        return len(set(self._classes) | set(_installed()))

    def is_builtin(self, name: str) -> bool:
        return name in self._builtin

    def origin(self, name: str) -> str | None:
        """Where a user strategy came from (its file or entry point); None for a built-in."""
        return self._origins.get(name)

    def register(self, cls: type[Strategy], origin: str) -> type[Strategy]:
        """Add a user strategy under ``cls.name``; the same origin may replace its class."""
        loader.check_strategy_class(cls, origin)
        if cls.name in self._builtin:
            raise StrategyError(
                f"{origin}: name {cls.name!r} is taken by a built-in strategy; "
                f"choose another (built-ins: {sorted(self._builtin)})"
            )
        known = self._origins.get(cls.name)
        if known is not None and known != origin:
            raise StrategyError(
                f"{origin}: name {cls.name!r} is already registered from {known}; "
                "choose another name"
            )
        self._classes[cls.name] = cls
        self._origins[cls.name] = origin
        return cls

    def unregister(self, name: str) -> None:
        """Remove a user strategy (built-ins stay)."""
        if name in self._builtin:
            raise StrategyError(f"{name!r} is a built-in strategy and cannot be removed")
        self._classes.pop(name, None)
        self._origins.pop(name, None)


STRATEGIES = StrategyRegistry(BUILTIN_STRATEGIES)


def register_strategy_file(path: Path | str) -> type[Strategy]:
    """Load the strategy defined in the Python file ``path`` and register it by its name."""
    cls = loader.load_strategy_file(path)
    return STRATEGIES.register(cls, f"strategy file {Path(path).expanduser().resolve()}")


def get_strategy(name: str, params: Mapping[str, Any] | None = None) -> Strategy:
    """A strategy by registry name with validated parameters (errors name what is allowed).

    A user strategy's parameter errors are one line that names its file or entry point."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise StrategyError(f"unknown strategy {name!r}; allowed: {sorted(STRATEGIES)}") from None
    origin = STRATEGIES.origin(name)
    if origin is None:
        return cls(params)
    try:
        return cls(params)
    except StrategyError as err:
        raise StrategyError(f"{origin}: {loader.one_line(str(err))}") from None
    except Exception as err:  # a user's params model or __init__ may raise anything
        raise StrategyError(
            f"{origin}: cannot construct {cls.__name__}: {type(err).__name__}: "
            f"{loader.one_line(str(err))}"
        ) from None


def strategy_from_file(path: Path | str, params: Mapping[str, Any] | None = None) -> Strategy:
    """Register the strategy in ``path`` and build it with ``params``."""
    return get_strategy(register_strategy_file(path).name, params)
