"""Package names imported from their modules on first use (PEP 562), for packages whose
``__init__`` would otherwise import heavy modules (pandas, Great Expectations) for every
caller of any one of them.

A package declares ``name -> submodule`` and binds what ``lazy_exports`` returns::

    __getattr__, __dir__ = lazy_exports(__name__, globals(), {"run_backtest": "engine"})

The first access of a name imports its submodule and stores the value in the package's
globals, so later accesses are plain attribute reads.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, namespace: dict[str, Any], module_of: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's ``__getattr__`` and ``__dir__`` for the names of ``module_of``."""

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:  # a submodule not imported yet: the import system imports it
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *module_of})

    return __getattr__, __dir__
