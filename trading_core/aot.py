"""The ahead-of-time compiled kernels: where they live, whether they are fresh, and lazy
kernels that use them or fall back to the numba JIT.

``make prepare`` compiles the numba kernels of ``indicators/_kernels.py`` and of the sweeps
(``backtest/sweep_kernel.py``, the simulations it calls and ``backtest/sweep_swing_kernel.py``)
- the same Python source the JIT compiles - into one C extension, ``MODULE``
(``backtest/sweep_aot_build.py``, with ``numba.pycc``), under ``default_dir()``:
``$TRADING_AOT_DIR``, else ``<venv>/trading-aot`` (outside git). Importing it does not import
numba, which saves numba's import (~0.2 s) and its first-call
initialisation (~0.7 s CPU) on every command.

The module carries ``source_hash()``, the stamp of the sources it was built from; ``load()``
uses it only when the stamp equals the current sources' (``source_hash()`` here), so an edited
kernel is never served by a stale module: it falls back to the JIT until the next ``make
prepare``. ``TRADING_AOT=0`` turns the module off (the JIT everywhere).

This module imports neither numba nor pandas (the package's ``__init__`` is not involved:
``trading_core/__init__.py`` is empty), so the indicators can use it at import.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

MODULE = "trading_sweep_aot"
ROOT = Path(__file__).resolve().parent
# the files whose text decides what the compiled code does (and the exported signatures)
SOURCES: tuple[str, ...] = (
    "backtest/sweep_kernel.py",
    "backtest/sweep_simulate.py",
    "backtest/sweep_simulate_plain.py",
    "backtest/sweep_swing_kernel.py",
    "indicators/_kernels.py",
    "position_sizing.py",
    "fills.py",
    "backtest/sweep_aot_build.py",
)

_loaded: dict[Path, ModuleType | None] = {}
# every ``Kernel`` by "module.name" (the build exports them; the JIT replaces module globals)
KERNELS: dict[str, Kernel] = {}
_status: dict[Path, str] = {}
_forced: list[ModuleType | None] = []


def default_dir() -> Path:
    """``$TRADING_AOT_DIR``, else ``trading-aot`` under the running environment's prefix."""
    configured = os.environ.get("TRADING_AOT_DIR")
    return Path(configured) if configured else Path(sys.prefix) / "trading-aot"


def source_hash(sources: tuple[str, ...] = SOURCES) -> int:
    """Stamp of ``sources`` (default ``SOURCES``), Python's version and NumPy's (a positive
    int64)."""
    digest = hashlib.sha256()
    for relative in sources:
        digest.update((ROOT / relative).read_bytes())
    digest.update(f"{sys.version_info[:2]} numpy {np.__version__}".encode())
    return int(digest.hexdigest()[:15], 16)


# what the JIT's cached functions compile in: ``SOURCES`` and the parallel drivers
JIT_SOURCES: tuple[str, ...] = (*SOURCES, "backtest/sweep_parallel.py")


def use_source_keyed_cache() -> None:
    """Point numba's on-disk cache at ``<prefix>/numba-cache/<stamp of JIT_SOURCES>`` (unless
    ``NUMBA_CACHE_DIR`` is set): numba checks a cached function only against its own file,
    so a cached driver of ``sweep_parallel.py`` would otherwise run the code of an older
    ``sweep_kernel.py`` it inlined (seen: a segfault after an edit). Call it before the first
    ``njit(cache=True)``; importing numba's config imports numba."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    from numba.core import config

    where = Path(sys.prefix) / "numba-cache" / f"{source_hash(JIT_SOURCES):x}"
    config.CACHE_DIR = str(where)  # type: ignore[attr-defined]  # set from the environment


def module_path(directory: Path) -> Path:
    return directory / (MODULE + importlib.machinery.EXTENSION_SUFFIXES[0])


def load(directory: Path | None = None) -> ModuleType | None:
    """The compiled module in ``directory`` (default ``default_dir()``) when it exists and
    its stamp is current; ``None`` otherwise (``status()`` says why). Cached per directory."""
    if _forced:
        return _forced[-1]
    if os.environ.get("TRADING_AOT", "1") == "0":
        return None
    where = (Path(directory) if directory is not None else default_dir()).resolve()
    if where in _loaded:
        return _loaded[where]
    module = None
    path = module_path(where)
    if not path.exists():
        _status[where] = f"absent ({path} not built: make prepare builds it)"
    else:
        spec = importlib.util.spec_from_file_location(MODULE, path)
        try:
            assert spec is not None and spec.loader is not None
            candidate = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(candidate)
            stamp = int(candidate.source_hash())
        except (ImportError, OSError, AttributeError, AssertionError) as err:
            _status[where] = f"unloadable ({path}: {err})"
        else:
            if stamp == source_hash():
                module = candidate
                _status[where] = f"fresh ({path})"
            else:
                _status[where] = f"stale ({path} built from other sources: make prepare)"
    _loaded[where] = module
    return module


def status(directory: Path | None = None) -> str:
    """Why ``load(directory)`` returns what it returns (``fresh``, ``absent``, ``stale``...)."""
    if _forced:
        return "forced" if _forced[-1] is not None else "forced off"
    if os.environ.get("TRADING_AOT", "1") == "0":
        return "off (TRADING_AOT=0)"
    load(directory)
    return _status[(Path(directory) if directory is not None else default_dir()).resolve()]


class forced:
    """``with forced(module):`` every lazy kernel and sweep driver uses ``module`` (``None``:
    the JIT) - for tests and benchmarks comparing the two."""

    def __init__(self, module: ModuleType | None) -> None:
        self.module = module

    def __enter__(self) -> ModuleType | None:
        _forced.append(self.module)
        return self.module

    def __exit__(self, *exc: object) -> None:
        _forced.pop()


# Lazy kernels: a kernel module decorates its numba-compatible functions with ``Kernel``s
# sharing one ``jit_namespace`` function, which compiles them all at the first need of the
# JIT (so a kernel calling another finds a numba dispatcher).

ARRAY = "a"  # a 1-D float64 array (made C-contiguous; anything else goes to the JIT)
INT = "i"  # an integer (Python or NumPy; bool is not one)
# any other kind ("-"): an argument the compiled module has no signature for (always the JIT)


def _fits(args: tuple[Any, ...], kinds: str) -> tuple[Any, ...] | None:
    if len(args) != len(kinds):
        return None
    out: list[Any] = []
    for value, kind in zip(args, kinds, strict=True):
        if kind == ARRAY:
            if not (isinstance(value, np.ndarray) and value.dtype == np.float64):
                return None
            if value.ndim != 1:
                return None
            out.append(np.ascontiguousarray(value))
        elif kind == INT:
            if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
                return None
            out.append(int(value))
        else:  # not compiled ahead of time
            return None
    return tuple(out)


class Kernel:
    """A kernel called from Python: the compiled module's function of the same name when the
    module is fresh and the arguments fit ``kinds``, else the numba JIT (``jit()`` compiles
    every kernel of the namespace on first need). ``py_func`` is the Python source."""

    def __init__(
        self, func: Callable[..., Any], kinds: str, jit: Callable[[], dict[str, Any]]
    ) -> None:
        self.py_func = func
        self.kinds = kinds
        self.__name__ = func.__name__
        self.__doc__ = func.__doc__
        self._jit = jit
        KERNELS[f"{func.__module__}.{func.__name__}"] = self

    def __call__(self, *args: Any) -> Any:
        module = load()
        if module is not None:
            fitted = _fits(args, self.kinds)
            compiled = getattr(module, self.__name__, None)
            if fitted is not None and compiled is not None:
                return compiled(*fitted)
        return self._jit()[self.__name__](*args)

    def __repr__(self) -> str:
        return f"<kernel {self.__name__}({self.kinds})>"


def jit_namespace(namespace: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """A function compiling (once) every ``Kernel`` of ``namespace`` with
    ``numba.njit(cache=True)``; returns name -> dispatcher. The dispatchers compile copies of
    the functions whose globals hold the dispatchers in place of the ``Kernel`` objects, so
    the kernels' calls to one another compile, while ``namespace`` itself keeps the
    ``Kernel`` objects (each call still prefers the compiled module)."""
    compiled: dict[str, Any] = {}

    def jit() -> dict[str, Any]:
        if not compiled:
            use_source_keyed_cache()
            from numba import njit

            jit_globals = dict(namespace)
            for name, lazy in list(jit_globals.items()):
                if not isinstance(lazy, Kernel):
                    continue
                func = lazy.py_func
                copy = types.FunctionType(
                    func.__code__, jit_globals, func.__name__, func.__defaults__, func.__closure__
                )
                copy.__qualname__ = func.__qualname__
                copy.__doc__ = func.__doc__
                jit_globals[name] = njit(cache=True)(copy)
                compiled[name] = jit_globals[name]
        return compiled

    return jit
