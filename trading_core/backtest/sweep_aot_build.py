"""Build the ahead-of-time compiled kernels (``numba.pycc``) into one C extension.

    .venv/bin/python -m trading_core.backtest.sweep_aot_build [--out DIR] [--if-stale]

``make prepare`` runs it with ``--if-stale`` (only when the module is missing or stale); the
default ``DIR`` is ``aot.default_dir()`` (under the venv, outside git). Without numba.pycc
or a C compiler it says so and exits 0 - the JIT serves the kernels - except under ``CI``.

The exported functions are the numba kernels' own Python functions (``.py_func``) - the
same source the JIT compiles: the sweep drivers of ``sweep_kernel`` and every indicator
kernel of ``indicators/_kernels.py`` - with fixed signatures of C-contiguous float64, int64
and bool arrays, as ``sweep_aot`` and ``aot.Kernel`` pass them. ``source_hash`` returns the
stamp of the sources the module was built from (``aot.source_hash()``); a module whose
stamp differs from the current sources is never used. The wrappers release the GIL, so
``sweep_aot`` can run scenarios on several threads.

Writes to a temporary directory first and renames, so a reader never sees half a module.
``numba.pycc`` is deprecated (numba 0.68.1 still ships it and it works); the day numba drops
it, this reports it unavailable and the JIT serves every kernel.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

from trading_core import aot

C2 = "f8[:, ::1]"
C3 = "f8[:, :, ::1]"
F1 = "f8[::1]"
I1 = "i8[::1]"
B2 = "b1[:, ::1]"

# exported name -> (module of the numba kernel, attribute, signature)
EXPORTS: dict[str, tuple[str, str, str]] = {
    "run_macd": (
        "trading_core.backtest.sweep_kernel",
        "run_macd",
        f"{C2}({C2}, {C2}, {I1}, {I1}, {I1}, {C2}, i8, {F1}, {C3})",
    ),
    "run_signals": (
        "trading_core.backtest.sweep_kernel",
        "run_signals",
        f"{C2}({C2}, {B2}, {B2}, b1, {C2}, {C2}, {C2}, {C2}, {C2}, i8, {F1}, {C3})",
    ),
    "run_swing": (
        "trading_core.backtest.sweep_swing_kernel",
        "run_swing",
        f"{C2}({C2}, {C2}, {C2}, {C2}, {B2}, b1[::1], i8[:, ::1], {F1}, i8[:, ::1], {F1}, "
        f"{I1}, {I1}, {F1}, {F1}, {C2}, i8, {F1}, {C3}, i8, i8)",
    ),
}
# indicator kernels whose result is not one float64 array (the rest are ``f8[::1](...)``)
RETURNS: dict[str, str] = {"first_valid": "i8", "adx_wilder": "UniTuple(f8[::1], 3)"}


def indicator_exports() -> dict[str, tuple[str, str, str]]:
    """Every public ``Kernel`` of ``indicators/_kernels.py`` whose ``kinds`` are all arrays
    and integers, with the signature those kinds mean."""
    from trading_core.aot import ARRAY, INT, KERNELS
    from trading_core.indicators import _kernels

    exports = {}
    prefix = f"{_kernels.__name__}."
    for key, value in KERNELS.items():
        name = key.removeprefix(prefix)
        if not key.startswith(prefix) or name.startswith("_"):
            continue
        if set(value.kinds) - {ARRAY, INT}:
            continue
        args = ", ".join(F1 if kind == ARRAY else "i8" for kind in value.kinds)
        exports[name] = (
            "trading_core.indicators._kernels",
            name,
            f"{RETURNS.get(name, F1)}({args})",
        )
    return exports


def _release_gil_flags() -> None:
    """``numba.pycc`` compiles with default ``Flags`` (GIL held); ours release it, which is
    all ``nogil=True`` changes (``typed_passes`` passes ``flags.release_gil`` to the CPython
    wrapper)."""
    from numba.pycc import compiler

    base = compiler.Flags
    if getattr(base, "_trading_release_gil", False):
        return

    class ReleaseGilFlags(base):  # type: ignore[misc, valid-type]
        _trading_release_gil = True

        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self.release_gil = True

    compiler.Flags = ReleaseGilFlags  # type: ignore[misc]


def build(out_dir: Path | None = None, verbose: bool = False) -> Path:
    """Compile the module into ``out_dir`` (default ``aot.default_dir()``); returns
    the path of the extension. Raises ``RuntimeError`` when numba.pycc or a C compiler is
    missing, with the reason."""
    import importlib

    target = Path(out_dir) if out_dir is not None else aot.default_dir()
    try:
        with warnings.catch_warnings():  # pycc is deprecated: said once, in this docstring
            warnings.simplefilter("ignore")
            from numba.pycc import CC
    except ImportError as err:  # numba without pycc (removed in a future release)
        raise RuntimeError(f"numba.pycc is unavailable: {err}") from err
    if shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None:
        raise RuntimeError("no C compiler (cc or gcc) on PATH: numba.pycc needs one")
    _release_gil_flags()
    stamp = aot.source_hash()
    from trading_core.indicators import _kernels

    # the numba dispatchers of the indicator kernels (their calls to one another resolve)
    jitted = _kernels.jit_all()
    cc = CC(aot.MODULE)
    cc.verbose = verbose
    cc.target_cpu = "host"  # built where it runs (make prepare), like the JIT
    for name, (module, attribute, signature) in {**EXPORTS, **indicator_exports()}.items():
        if module == _kernels.__name__:
            kernel = jitted[attribute]
        else:
            kernel = getattr(importlib.import_module(module), attribute)
        cc.export(name, signature)(kernel.py_func)

    def source_hash() -> int:
        return stamp

    cc.export("source_hash", "i8()")(source_hash)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".build-") as tmp:
        cc.output_dir = tmp
        cc.compile()
        built = next(Path(tmp).glob(f"{aot.MODULE}*"))
        final = target / built.name
        os.replace(built, final)
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, metavar="DIR")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--if-stale", action="store_true", help="do nothing when the module is already fresh"
    )
    args = parser.parse_args(argv)
    if args.if_stale and aot.load(args.out) is not None:
        print(f"compiled kernels up to date: {aot.status(args.out)}")
        return 0
    started = time.perf_counter()
    try:
        path = build(args.out, args.verbose)
    except RuntimeError as err:
        # a machine without a C compiler still works (the JIT); CI must build it
        print(f"kernels not compiled ahead of time ({err}); the numba JIT serves them")
        return 1 if os.environ.get("CI") else 0
    print(f"compiled kernels built in {time.perf_counter() - started:.0f} s: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
